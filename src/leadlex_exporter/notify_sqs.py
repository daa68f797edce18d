"""SQS notifications: one message per notified event, sent in batches of ten.

Entries that SQS reports as Failed are sent again with backoff; what still fails raises
DeliveryError so the commit does not happen and the next run sends the batch again.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aws_lambda_powertools import Logger

from leadlex_exporter.clock import Clock
from leadlex_exporter.errors import DeliveryError

logger = Logger(child=True)

MAX_BATCH_ENTRIES = 10
MAX_BATCH_BYTES = 250_000  # under SQS's 256 KiB per request, with room for attributes


MAX_MESSAGE_BYTES = 240_000
ESSENTIAL_FIELDS = ("id", "type", "contact_id", "email", "step_id", "timestamp")


def message_body(event: dict[str, Any], workspace: str, campaign_id: str) -> str:
    """The webhook-style body; an event too large for SQS keeps its essential fields only."""
    text = _body(event, workspace, campaign_id)
    if len(text.encode()) <= MAX_MESSAGE_BYTES:
        return text
    logger.warning("event too large for one message, essentials sent", event_id=event.get("id"))
    essentials = {k: event.get(k) for k in ESSENTIAL_FIELDS if isinstance(event.get(k), str | None)}
    return _body(essentials, workspace, campaign_id, truncated=True)


def _body(event: dict[str, Any], workspace: str, campaign_id: str, truncated: bool = False) -> str:
    body: dict[str, Any] = {
        "event_id": event.get("id"),
        "event_type": event.get("type"),
        "campaign_id": campaign_id,
        "workspace": workspace,
        "dedup_key": str(event.get("id")),
        "event": event,
    }
    if truncated:
        body["event_truncated"] = True  # the whole event is in S3
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=str)


def _attributes(event: dict[str, Any], workspace: str, campaign_id: str) -> dict[str, Any]:
    values = {
        "event_type": str(event.get("type")),
        "campaign_id": campaign_id,
        "workspace": workspace,
        "event_id": str(event.get("id")),
    }
    return {k: {"DataType": "String", "StringValue": v[:256]} for k, v in values.items() if v}


class SqsNotifier:
    def __init__(
        self,
        sqs_client: Any,
        queue_url: str,
        clock: Clock,
        *,
        max_attempts: int = 6,
        jitter: Callable[[], float] = random.random,
    ):
        self.sqs = sqs_client
        self.queue_url = queue_url
        self.fifo = queue_url.endswith(".fifo")
        self.clock = clock
        self.max_attempts = max_attempts
        self.jitter = jitter
        self.workers = 8
        self.requests = 0
        self.sent = 0
        self._lock = threading.Lock()

    def send(self, events: Iterable[dict[str, Any]], workspace: str, campaign_id: str) -> int:
        entries = [self._entry(i, e, workspace, campaign_id) for i, e in enumerate(events)]
        chunks = list(_chunks(entries))
        if len(chunks) <= 1:
            for chunk in chunks:
                self._send_chunk(chunk)
            return len(entries)
        # Batches go out concurrently; every one has been accepted (or raised) before the
        # caller commits, so the at-least-once guarantee does not change.
        with ThreadPoolExecutor(max_workers=min(self.workers, len(chunks))) as pool:
            for future in [pool.submit(self._send_chunk, chunk) for chunk in chunks]:
                future.result()
        return len(entries)

    def _entry(
        self, index: int, event: dict[str, Any], workspace: str, campaign_id: str
    ) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "Id": f"m{index}",
            "MessageBody": message_body(event, workspace, campaign_id),
            "MessageAttributes": _attributes(event, workspace, campaign_id),
        }
        if self.fifo:
            dedup = str(event.get("id"))
            if len(dedup) > 128 or not dedup.isascii():
                dedup = hashlib.sha256(dedup.encode()).hexdigest()
            entry["MessageDeduplicationId"] = dedup
            entry["MessageGroupId"] = hashlib.sha256(campaign_id.encode()).hexdigest()[:64]
        return entry

    def _send_chunk(self, chunk: list[dict[str, Any]]) -> None:
        pending = chunk
        for attempt in range(1, self.max_attempts + 1):
            response = self.sqs.send_message_batch(QueueUrl=self.queue_url, Entries=pending)
            failed_ids = {f["Id"] for f in response.get("Failed", [])}
            with self._lock:
                self.requests += 1
                self.sent += len(pending) - len(failed_ids)
            if not failed_ids:
                return
            codes = sorted({f.get("Code", "?") for f in response.get("Failed", [])})
            logger.warning(
                "sqs entries rejected", count=len(failed_ids), codes=codes, attempt=attempt
            )
            pending = [e for e in pending if e["Id"] in failed_ids]
            if attempt < self.max_attempts:
                cap = min(8.0, 0.2 * 2 ** (attempt - 1))
                self.clock.sleep(cap / 2 + cap / 2 * self.jitter())
        raise DeliveryError(f"SQS rejected {len(pending)} notification(s) after the retries")


def _chunks(entries: list[dict[str, Any]]) -> Iterable[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    size = 0
    for entry in entries:
        entry_size = len(entry["MessageBody"].encode()) + 512
        if chunk and (len(chunk) == MAX_BATCH_ENTRIES or size + entry_size > MAX_BATCH_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(entry)
        size += entry_size
    if chunk:
        yield chunk
