"""A commit group's objects as gzip streams, compressed while records arrive: memory holds
compressed bytes, not records. Compression runs on one worker thread, in arrival order."""

from __future__ import annotations

import gzip
import io
import json
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any


class Objects:
    """Objects by target: an event date (YYYY-MM-DD), or None for the quarantine object."""

    CHUNK = 64 * 1024  # raw bytes held per object before they go to the compressor

    def __init__(self) -> None:
        self._streams: dict[str | None, tuple[Any, list[bytes]]] = {}
        self._pending: dict[str | None, list[bytes]] = {}
        self._pending_bytes: dict[str | None, int] = {}
        self._worker: ThreadPoolExecutor | None = None
        self._jobs: list[Future[None]] = []

    def __len__(self) -> int:
        return len(self._pending)

    def targets(self) -> list[str | None]:
        dates = sorted(t for t in self._pending if t is not None)
        return [*dates, *([None] if None in self._pending else [])]

    def write(self, target: str | None, line: bytes) -> None:
        pending = self._pending.get(target)
        if pending is None:
            pending = self._pending[target] = []
            self._pending_bytes[target] = 0
            self._streams[target] = (zlib.compressobj(6, zlib.DEFLATED, 31), [])
        pending.append(line)
        self._pending_bytes[target] += len(line)
        if self._pending_bytes[target] >= self.CHUNK:
            self._compress(target, final=False)

    def finish(self) -> dict[str | None, Callable[[], bytes]]:
        """Every object's gzip bytes (as callables for S3Sink.put_many)."""
        for target in list(self._pending):
            self._compress(target, final=True)
        for job in self._jobs:
            job.result()
        self.close()
        # Each stream holds about 256 KB of zlib state: let it go now, keep the bytes.
        parts_of = {t: parts for t, (_, parts) in self._streams.items()}
        self._streams = {}
        return {t: _joined(parts) for t, parts in parts_of.items()}

    def close(self) -> None:
        if self._worker is not None:
            self._worker.shutdown(wait=True)
            self._worker = None

    def _compress(self, target: str | None, final: bool) -> None:
        data = b"".join(self._pending[target])
        self._pending[target], self._pending_bytes[target] = [], 0
        stream, parts = self._streams[target]

        def job() -> None:
            out = stream.compress(data)
            if out:
                parts.append(out)
            if final:
                parts.append(stream.flush())

        if self._worker is None:
            self._worker = ThreadPoolExecutor(max_workers=1)
        self._jobs.append(self._worker.submit(job))
        if len(self._jobs) > 64:
            done, self._jobs = self._jobs[:-8], self._jobs[-8:]
            for finished in done:
                finished.result()


def _joined(parts: list[bytes]) -> Callable[[], bytes]:
    return lambda: b"".join(parts)


def read_records(body: bytes) -> Iterator[dict[str, Any]]:
    with gzip.GzipFile(fileobj=io.BytesIO(body)) as stream:
        for line in stream:
            if line.strip():
                item = json.loads(line)
                if isinstance(item, dict):
                    yield item
