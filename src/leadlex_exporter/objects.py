"""A commit group's objects as gzip streams, compressed while records arrive: memory holds
compressed bytes, not records. Compression runs on one worker thread, in arrival order.

Each object is one ordinary gzip member (RFC 1952) whose deflate stream is made of segments:
every CHUNK of raw lines is compressed by a compressor of its own, flushed to a byte boundary
(Z_SYNC_FLUSH, no final block) and dropped. A decoder reads the blocks one after another as it
reads any deflate stream. Each compressor starts from the last 32 KB of the raw bytes before
its segment as its dictionary (as pigz does), so it may refer back into them; the decoder has
them in its window. So an open object costs its unsent raw lines, 32 KB of raw tail and its
compressed bytes, not a compressor's 256 KB of state kept open: a group has an object open for
each event date it touched (30 and more on a month of events).
"""

from __future__ import annotations

import gzip
import io
import json
import struct
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

LEVEL = 6
WINDOW = 32 * 1024  # deflate's window: how far back a segment may refer
# gzip header: magic, deflate, no flags, no mtime (the bytes depend on the records only),
# no extra flags, OS unix (what zlib writes)
_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03"
_LAST_BLOCK = zlib.compressobj(LEVEL, zlib.DEFLATED, -15).flush()  # an empty final block


@dataclass
class _Stream:
    """One object's compressed segments, and the CRC-32 and size of the raw bytes in them."""

    parts: list[bytes] = field(default_factory=lambda: [_HEADER])
    crc: int = 0
    size: int = 0
    tail: bytes = b""  # the last WINDOW raw bytes so far: the next segment's dictionary

    def add(self, data: bytes) -> None:
        if self.tail:
            segment = zlib.compressobj(LEVEL, zlib.DEFLATED, -15, zdict=self.tail)
        else:
            segment = zlib.compressobj(LEVEL, zlib.DEFLATED, -15)
        self.parts.append(segment.compress(data))
        self.parts.append(segment.flush(zlib.Z_SYNC_FLUSH))
        self.crc = zlib.crc32(data, self.crc)
        self.size += len(data)
        self.tail = (self.tail + data)[-WINDOW:] if len(data) < WINDOW else data[-WINDOW:]

    def end(self) -> None:
        self.tail = b""
        self.parts.append(_LAST_BLOCK)
        self.parts.append(struct.pack("<II", self.crc & 0xFFFFFFFF, self.size & 0xFFFFFFFF))


class Objects:
    """Objects by target: an event date (YYYY-MM-DD), or None for the quarantine object."""

    CHUNK = 64 * 1024  # raw bytes held per object before they go to the compressor

    def __init__(self) -> None:
        self._streams: dict[str | None, _Stream] = {}
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
        self.write_lines(target, [line], len(line))

    def write_lines(self, target: str | None, lines: list[bytes], size: int) -> None:
        """`lines` (`size` bytes in all) at the end of the target's object."""
        pending = self._pending.get(target)
        if pending is None:
            pending = self._pending[target] = []
            self._pending_bytes[target] = 0
            self._streams[target] = _Stream()
        pending += lines
        self._pending_bytes[target] += size
        if self._pending_bytes[target] >= self.CHUNK:
            self._compress(target, final=False)

    def finish(self) -> dict[str | None, Callable[[], bytes]]:
        """Every object's gzip bytes (as callables for S3Sink.put_many)."""
        for target in list(self._pending):
            self._compress(target, final=True)
        for job in self._jobs:
            job.result()
        self.close()
        parts_of = {t: stream.parts for t, stream in self._streams.items()}
        self._streams = {}
        return {t: _joined(parts) for t, parts in parts_of.items()}

    def close(self) -> None:
        if self._worker is not None:
            self._worker.shutdown(wait=True)
            self._worker = None

    def _compress(self, target: str | None, final: bool) -> None:
        data = b"".join(self._pending[target])
        self._pending[target], self._pending_bytes[target] = [], 0
        stream = self._streams[target]

        def job() -> None:
            if data:
                stream.add(data)
            if final:
                stream.end()

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
