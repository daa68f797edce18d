"""S3 objects: partition keys and the few operations the commit protocol needs.

Layout (Hive style, chosen for Athena partition projection on the event's own date):
    <export>/event_date=YYYY-MM-DD/workspace=<name>/part-<run>-<group>.jsonl.gz
    <quarantine>/workspace=<name>/part-<run>-<group>.jsonl.gz
One object holds the events of one date from every campaign of a commit group (group.py);
each record names its campaign in `campaign_id`. Workspace names are percent-encoded (`/`,
`=`, `%`, spaces...), so no value can leave its segment.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

from botocore.exceptions import ClientError


def segment(name: str, value: str) -> str:
    return f"{name}={quote(value, safe='')}"


def partition_prefix(prefix: str, event_date: str, workspace: str) -> str:
    """Where one date's objects of a workspace live (ends with `/`: no other name matches)."""
    return f"{prefix}/event_date={event_date}/{segment('workspace', workspace)}/"


def event_object_key(prefix: str, event_date: str, workspace: str, group_id: str) -> str:
    return f"{partition_prefix(prefix, event_date, workspace)}part-{group_id}.jsonl.gz"


def quarantine_object_key(prefix: str, workspace: str, group_id: str) -> str:
    return f"{prefix}/{segment('workspace', workspace)}/part-{group_id}.jsonl.gz"


class S3Sink:
    def __init__(self, s3_client: Any, bucket: str):
        self.s3 = s3_client
        self.bucket = bucket
        self.puts = 0
        self._lock = threading.Lock()

    def put(self, key: str, body: bytes) -> None:
        # No Content-Encoding: readers must see a .gz file, not bytes to inflate on the fly.
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/gzip")
        with self._lock:
            self.puts += 1

    def put_many(self, items: list[tuple[str, Callable[[], bytes]]], workers: int = 8) -> None:
        """PUT several objects at once (bodies built in the workers); every PUT has finished,
        or raised, when this returns."""
        if len(items) <= 1:
            for key, body in items:
                self.put(key, body())
            return

        def put_one(key: str, body: Callable[[], bytes]) -> None:
            self.put(key, body())

        with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
            for future in [pool.submit(put_one, key, body) for key, body in items]:
                future.result()

    def get(self, key: str) -> bytes | None:
        found = self.get_versioned(key)
        return None if found is None else found[0]

    def delete(self, key: str) -> None:
        self.s3.delete_object(Bucket=self.bucket, Key=key)

    def list_keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        for page in pages:
            keys += [item["Key"] for item in page.get("Contents", [])]
        return keys

    def get_versioned(self, key: str) -> tuple[bytes, str] | None:
        """An object's bytes and the ETag they had (for `put_if`); None if it is not there."""
        try:
            response = self.s3.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        body: bytes = response["Body"].read()
        return body, str(response["ETag"])

    def put_if(self, key: str, body: bytes, etag: str | None) -> bool:
        """PUT only over the version with `etag` (None: only where no object is). False when
        the object changed, went, or appeared meanwhile: nothing was written."""
        condition = {"IfMatch": etag} if etag is not None else {"IfNoneMatch": "*"}
        try:
            self.s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                ContentType="application/gzip",
                **condition,
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _CHANGED_MEANWHILE:
                return False
            raise
        with self._lock:
            self.puts += 1
        return True


# S3's answers to a conditional PUT whose condition failed: changed (412), gone (404), or
# another conditional write to the key at the same moment (409)
_CHANGED_MEANWHILE = frozenset(
    {"PreconditionFailed", "NoSuchKey", "404", "412", "ConditionalRequestConflict", "409"}
)
