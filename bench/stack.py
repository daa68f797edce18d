"""The benchmark's stack: a moto server (`bench.moto_server`) and the bulk-seeded sandbox as
child processes on free loopback ports, the AWS resources of template.yaml (made as `make demo`
makes them), and a bucket for dlt. Everything started here stops when the `with` block ends.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import psutil

# One way to start moto and create the stack: the demo's (its sandbox seeding is not bulk).
from scripts.local_stack import BUCKET, SECRET, LocalStack, _create_resources, _wait, free_port

DLT_BUCKET = "leadlex-bench-dlt"


@dataclass
class BenchStack:
    local: LocalStack
    processes: dict[str, psutil.Process]  # "moto", "sandbox": for their CPU time

    def env(self, **overrides: str) -> dict[str, str]:
        return self.local.env(**overrides)

    def put_secret(self, workspaces: list[dict[str, Any]]) -> None:
        self.local.client("secretsmanager").put_secret_value(
            SecretId=SECRET, SecretString=json.dumps({"workspaces": workspaces})
        )

    def reset_calls(self) -> None:
        httpx.post(self.local.admin_url + "/reset-stats", timeout=30).raise_for_status()

    def api_calls(self, workspace: str) -> dict[str, int]:
        """The sandbox's own count of calls by this workspace since the last reset."""
        stats = httpx.get(self.local.admin_url + "/stats", timeout=60).json()
        counts: dict[str, int] = stats["by_workspace"].get(workspace, {})
        return {"total": 0, "events": 0, "campaigns": 0, **counts}

    def objects(self, bucket: str) -> tuple[int, int]:
        """How many objects the bucket holds, and their bytes."""
        count = size = 0
        pages = self.local.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for page in pages:
            for item in page.get("Contents", []):
                count, size = count + 1, size + int(item["Size"])
        return count, size

    def exported_records(self, workspace: str) -> tuple[int, int]:
        """(records, distinct event ids) under the export prefix for this workspace name."""
        s3 = self.local.client("s3")
        segment = f"/workspace={quote(workspace, safe='')}/"
        records, ids = 0, set()
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="events/"):
            for item in page.get("Contents", []):
                if segment not in item["Key"]:
                    continue
                body = s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
                for line in gzip.decompress(body).splitlines():
                    if line.strip():
                        records += 1
                        ids.add(json.loads(line)["id"])
        return records, len(ids)

    def cpu_seconds(self) -> dict[str, float]:
        return {name: sum(p.cpu_times()[:2]) for name, p in self.processes.items()}


@contextlib.contextmanager
def bench_stack(spec: dict[str, Any], workdir: Path) -> Iterator[BenchStack]:
    spec_path = workdir / "sandbox.json"
    spec_path.write_text(json.dumps(spec), encoding="utf-8")
    port = free_port()
    started: list[subprocess.Popen[str]] = []
    try:
        moto = subprocess.Popen(  # noqa: S603 - our interpreter, moto behind our module
            [sys.executable, "-m", "bench.moto_server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        started.append(moto)
        sandbox = subprocess.Popen(  # noqa: S603 - our interpreter, our module
            [sys.executable, "-m", "bench.sandbox", str(spec_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        started.append(sandbox)
        line = sandbox.stdout.readline() if sandbox.stdout else ""
        if not line.startswith("LISTENING "):
            raise RuntimeError("the sandbox did not start")
        api_url = line.split(" ", 1)[1].strip()
        moto_url = f"http://127.0.0.1:{port}"
        _wait(moto_url + "/moto-api/")
        local = LocalStack(moto_url, api_url, api_url.split("/functions/")[0] + "/_admin", "")
        local.queue_url, local.work_queue_url = _create_resources(local, [])
        local.client("s3").create_bucket(Bucket=DLT_BUCKET)
        processes = {"moto": psutil.Process(moto.pid), "sandbox": psutil.Process(sandbox.pid)}
        yield BenchStack(local, processes)
    finally:
        for process in reversed(started):
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
