"""The functions' runtime as template.yaml's Globals name it, and an interpreter of its version.

`sam build` (src/Makefile) compiles the package's bytecode with a Python of the runtime's
version, or Lambda would ignore the .pyc. `python -m scripts.runtime_python` prints the path of
one: `python3.X` on PATH, else uv's (`uv python find`), else pyenv's; it exits non-zero, naming
what it tried, when there is none. The root Makefile passes it to `sam build` as PYTHON.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"


def globals_function(template: Path = TEMPLATE) -> dict[str, str]:
    """Runtime and the single Architecture of Globals.Function, read as text (no YAML
    dependency here: the Makefile runs this before any environment exists)."""
    text = template.read_text(encoding="utf-8")
    block = re.search(r"^Globals:\n  Function:\n((?:    .*\n)+)", text, re.MULTILINE)
    if block is None:
        raise SystemExit(f"no Globals.Function in {template}")
    runtime = re.search(r"^    Runtime: (python3\.\d+)\s*$", block.group(1), re.MULTILINE)
    arch = re.search(r"^    Architectures: \[(\w+)\]\s*$", block.group(1), re.MULTILINE)
    if runtime is None or arch is None:
        raise SystemExit(f"Globals.Function in {template} needs Runtime and Architectures: [x]")
    return {"runtime": runtime.group(1), "architecture": arch.group(1)}


def python_version(template: Path = TEMPLATE) -> str:
    """'3.13' for Runtime python3.13."""
    return globals_function(template)["runtime"].removeprefix("python")


def find_interpreter(version: str) -> Path | None:
    for candidate in _candidates(version):
        if _is_version(candidate, version):
            return candidate
    return None


def _candidates(version: str) -> list[Path]:
    found = [shutil.which(f"python{version}")]
    uv = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
    if Path(uv).is_file():
        done = subprocess.run(  # noqa: S603 - uv, a fixed query
            [uv, "python", "find", "--no-project", version],
            capture_output=True,
            text=True,
            check=False,
        )
        found.append(done.stdout.strip() if done.returncode == 0 else None)
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    found += [str(p) for p in sorted(pyenv_root.glob(f"versions/{version}.*/bin/python{version}"))]
    return [Path(p) for p in found if p]


def _is_version(interpreter: Path, version: str) -> bool:
    done = subprocess.run(  # noqa: S603 - a candidate interpreter, a fixed probe
        [str(interpreter), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.returncode == 0 and done.stdout.strip() == version


def main() -> int:
    version = python_version()
    interpreter = find_interpreter(version)
    if interpreter is None:
        print(
            f"no Python {version} (template.yaml's runtime) found: tried python{version} on "
            "PATH, `uv python find`, pyenv; install one or pass PYTHON=... to make",
            file=sys.stderr,
        )
        return 1
    print(interpreter)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
