"""The handler's import time as a Lambda cold start sees it.

A fresh interpreter per sample, no site-packages (`-I -S`) and no bytecode writes (`-B`), with
sys.path = [the `sam build` output, a directory standing in for the runtime's own boto3]. The
build ships unchecked-hash `.pyc` (src/Makefile), which stay valid whatever mtimes the files
get in the zip; the second figure recompiles a copy the same way, as a check.
"""

from __future__ import annotations

import compileall
import py_compile
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

MODULE = "leadlex_exporter.worker"
SAMPLES = 9
_PROBE = (
    "import sys, time; sys.path[:0] = sys.argv[1:]; t = time.perf_counter(); "
    f"import {MODULE}; print(time.perf_counter() - t)"
)


@dataclass
class ColdStart:
    source: str  # what was measured: the build dir, or src/ when there is no build
    runtime: str
    as_built_ms: float
    with_bytecode_ms: float
    pyc_in_build: int
    top_imports: list[tuple[str, float]] = field(default_factory=list)  # (package, ms)
    samples: dict[str, list[float]] = field(default_factory=dict)


def measure(build_dir: Path, runtime_dir: Path) -> ColdStart:
    as_built = [_sample([build_dir, runtime_dir]) for _ in range(SAMPLES)]
    with tempfile.TemporaryDirectory(prefix="bench-coldstart-") as tmp:
        compiled = Path(tmp) / "task"
        shutil.copytree(build_dir, compiled)
        compileall.compile_dir(
            compiled,
            quiet=1,
            workers=0,
            # Valid whatever the files' mtimes become in the zip: no source check at import.
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
        with_bytecode = [_sample([compiled, runtime_dir]) for _ in range(SAMPLES)]
    return ColdStart(
        source=str(build_dir),
        runtime=str(runtime_dir),
        as_built_ms=statistics.median(as_built),
        with_bytecode_ms=statistics.median(with_bytecode),
        pyc_in_build=sum(1 for _ in build_dir.rglob("*.pyc")),
        top_imports=_top_imports([build_dir, runtime_dir]),
        samples={"as_built": as_built, "with_bytecode": with_bytecode},
    )


def _sample(path: list[Path]) -> float:
    done = subprocess.run(  # noqa: S603 - our interpreter, a fixed probe
        [sys.executable, "-I", "-S", "-B", "-c", _PROBE, *map(str, path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return float(done.stdout.strip()) * 1000


def _top_imports(path: list[Path], count: int = 6) -> list[tuple[str, float]]:
    """The packages the handler pulls in, by cumulative import time (`-X importtime`)."""
    done = subprocess.run(  # noqa: S603 - our interpreter, a fixed probe
        [sys.executable, "-I", "-S", "-B", "-X", "importtime", "-c", _PROBE, *map(str, path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    totals: dict[str, float] = {}
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.split("|")
        if not cumulative.strip().isdigit():
            continue
        depth = (len(name) - len(name.lstrip())) // 2
        if depth == 1:  # imported directly by the handler (or first needed by it)
            package = name.strip().split(".")[0]
            totals[package] = totals.get(package, 0.0) + int(cumulative) / 1000
    return sorted(totals.items(), key=lambda item: -item[1])[:count]
