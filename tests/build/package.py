"""What a Lambda package must hold to load on its runtime: checks over a build directory.

Each check returns the problems it found, one line each (an empty list: none).
- wheels: every installed distribution (`*.dist-info/WHEEL`) has a tag this runtime and
  architecture accept: pure Python (py3-none-any), or CPython of the runtime's version (or abi3
  of an older one) for manylinux on the function's machine with a glibc the runtime's Amazon
  Linux has. No macOS, Windows, musl, other Python or other machine.
- binaries: every native library is an ELF file for that machine.
- bytecode: every .pyc is for the runtime's Python (Lambda ignores others).
"""

from __future__ import annotations

import re
from pathlib import Path

from packaging.tags import Tag, parse_tag

# glibc of the Amazon Linux each runtime runs on (2 for python3.11, 2023 after).
RUNTIME_GLIBC = {"3.11": (2, 26), "3.12": (2, 34), "3.13": (2, 34), "3.14": (2, 34)}
MACHINES = {"x86_64": "x86_64", "arm64": "aarch64"}  # Lambda's name -> the wheel's and ELF's
ELF_MACHINE = {"x86_64": 62, "aarch64": 183}  # e_machine: EM_X86_64, EM_AARCH64
_LEGACY_MANYLINUX = {"1": (2, 5), "2010": (2, 12), "2014": (2, 17)}
_MANYLINUX = re.compile(r"manylinux(?:_(\d+)_(\d+)|(1|2010|2014))_(\w+)")


def tag_fits(tag: Tag, python: str, arch: str) -> bool:
    """Whether a wheel tag loads on Lambda's `python` (e.g. '3.13') on `arch` (x86_64, arm64)."""
    minor = int(python.split(".")[1])
    cpython = f"cp3{minor}"
    if tag.abi == "none":
        interpreter_ok = tag.interpreter in ("py3", cpython) or (
            re.fullmatch(r"py3\d+", tag.interpreter) is not None
            and int(tag.interpreter[3:]) <= minor
        )
    elif tag.abi == "abi3":
        interpreter_ok = (
            re.fullmatch(r"cp3\d+", tag.interpreter) is not None
            and int(tag.interpreter[3:]) <= minor
        )
    else:
        interpreter_ok = tag.interpreter == cpython and tag.abi == cpython
    return interpreter_ok and _platform_fits(tag.platform, python, arch)


def _platform_fits(platform: str, python: str, arch: str) -> bool:
    if platform == "any":
        return True
    match = _MANYLINUX.fullmatch(platform)
    if match is None:
        return False  # macosx, win, musllinux, linux_x86_64 (not portable), ...
    major, minor, legacy, machine = match.groups()
    glibc = _LEGACY_MANYLINUX[legacy] if legacy else (int(major), int(minor))
    return machine == MACHINES[arch] and glibc <= RUNTIME_GLIBC[python]


def wheel_tags(dist_info: Path) -> list[str]:
    text = (dist_info / "WHEEL").read_text(encoding="utf-8")
    return [line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Tag:")]


def wheel_problems(package: Path, python: str, arch: str) -> list[str]:
    problems = []
    for dist_info in sorted(package.glob("*.dist-info")):
        if not (dist_info / "WHEEL").is_file():
            problems.append(f"{dist_info.name}: no WHEEL file (not installed from a wheel)")
            continue
        tags = wheel_tags(dist_info)
        fits = any(tag_fits(t, python, arch) for text in tags for t in parse_tag(text))
        if not fits:
            problems.append(f"{dist_info.name}: {', '.join(tags) or 'no Tag'}")
    return problems


def binary_problems(package: Path, arch: str) -> list[str]:
    problems = []
    wanted = ELF_MACHINE[MACHINES[arch]]
    for path in sorted(package.rglob("*")):
        if path.suffix not in (".so", ".dylib", ".pyd", ".dll") and ".so." not in path.name:
            continue
        head = path.read_bytes()[:20]
        if head[:4] != b"\x7fELF":
            problems.append(f"{path.relative_to(package)}: not an ELF file")
        elif int.from_bytes(head[18:20], "little") != wanted:
            machine = int.from_bytes(head[18:20], "little")
            problems.append(f"{path.relative_to(package)}: ELF machine {machine}, not {wanted}")
    return problems


def bytecode_problems(package: Path, python: str) -> list[str]:
    suffix = f".cpython-3{python.split('.')[1]}.pyc"
    return [
        str(path.relative_to(package))
        for path in sorted(package.rglob("*.pyc"))
        if not path.name.endswith(suffix)
    ]
