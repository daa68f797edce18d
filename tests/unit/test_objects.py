"""Objects compressed in segments are ordinary gzip: any reader gets back exactly the lines."""

from __future__ import annotations

import gzip
import random
import subprocess
import zlib

from leadlex_exporter.objects import WINDOW, Objects, read_records


def _lines(n: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    return [
        b'{"id":"evt_%08d","type":"%s","n":%d,"pad":"%s"}\n'
        % (i, rng.choice([b"sent", b"clicked"]), rng.randrange(10**9), b"x" * rng.randrange(400))
        for i in range(n)
    ]


def _built(targets: dict[str | None, list[bytes]]) -> dict[str | None, bytes]:
    objects = Objects()
    # interleaved, as pages of several campaigns arrive
    for i in range(max(len(lines) for lines in targets.values())):
        for target, lines in targets.items():
            if i < len(lines):
                objects.write(target, lines[i])
    return {target: body() for target, body in objects.finish().items()}


def test_many_segments_read_back_exactly_with_gzip_and_zlib() -> None:
    lines = _lines(5000, 1)  # about 1.2 MB raw: some 20 segments
    small = _lines(3, 2)
    bodies = _built({"2026-01-01": lines, "2026-01-02": small, None: [b"{}\n"]})
    assert set(bodies) == {"2026-01-01", "2026-01-02", None}
    raw = b"".join(lines)
    assert len(raw) > 10 * Objects.CHUNK
    # gzip checks the CRC-32 and the length in the trailer; zlib reads it as one member
    assert gzip.decompress(bodies["2026-01-01"]) == raw
    decoder = zlib.decompressobj(31)
    assert decoder.decompress(bodies["2026-01-01"]) == raw
    assert decoder.eof
    assert decoder.unused_data == b""
    assert gzip.decompress(bodies["2026-01-02"]) == b"".join(small)
    assert [r["id"] for r in read_records(bodies["2026-01-01"])] == [
        f"evt_{i:08d}" for i in range(5000)
    ]


def test_the_system_gunzip_reads_it_too() -> None:
    lines = _lines(2000, 3)
    body = _built({"2026-01-01": lines})["2026-01-01"]
    out = subprocess.run(["gzip", "-dc"], input=body, capture_output=True, check=True)  # noqa: S607
    assert out.stdout == b"".join(lines)
    assert subprocess.run(["gzip", "-t"], input=body, check=False).returncode == 0  # noqa: S607


def test_segments_cost_little_against_one_stream() -> None:
    lines = _lines(5000, 4)
    raw = b"".join(lines)
    body = _built({"d": lines})["d"]
    assert len(body) <= len(gzip.compress(raw, 6)) * 1.02


def test_a_line_longer_than_a_chunk_and_the_window() -> None:
    huge = b'{"id":"big","blob":"' + bytes(random.Random(5).randbytes(3 * WINDOW)).hex().encode()
    huge += b'"}\n'
    lines = [b'{"id":"a"}\n', huge, b'{"id":"b"}\n', huge]
    body = _built({"d": lines})["d"]
    assert gzip.decompress(body) == b"".join(lines)
