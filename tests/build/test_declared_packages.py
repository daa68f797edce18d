"""Every package a function imports is one its build ships, and the wheel declares them all.

Read from the sources (src/Makefile's `cp -R` lines, the modules' imports, pyproject.toml): no
build, so it runs in `make check`. tests/build/test_package.py checks a real build.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
FIRST_PARTY = {p.parent.name for p in SRC.glob("*/__init__.py")} | {"leadlex_sandbox"}


def shipped_by_makefile() -> dict[str, set[str]]:
    """function -> the packages its target in src/Makefile copies."""
    shipped: dict[str, set[str]] = {}
    targets: list[str] = []
    for line in (SRC / "Makefile").read_text().splitlines():
        if match := re.match(r"^(build-\w+(?: build-\w+)*):", line):
            targets = [t.removeprefix("build-") for t in match.group(1).split()]
        elif match := re.match(r"^\tcp -R (.+) \"\$\(ARTIFACTS_DIR\)/\"", line):
            for target in targets:
                shipped.setdefault(target, set()).update(match.group(1).split())
    return shipped


def imported_first_party(package: str) -> set[str]:
    """The first-party packages `package` imports, following them from package to package."""
    seen, todo = {package}, [package]
    while todo:
        for path in (SRC / todo.pop()).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top in FIRST_PARTY and top not in seen:
                        seen.add(top)
                        todo.append(top)
    return seen


def handler_packages() -> dict[str, str]:
    """function -> the package of its Handler in template.yaml."""
    text = (ROOT / "template.yaml").read_text()
    found = re.findall(r"^  (\w+Function):\n(?:    .*\n|\n)*?      Handler: (\w+)\.", text, re.M)
    return dict(found)


def test_the_template_names_the_functions_src_makefile_builds() -> None:
    assert set(handler_packages()) == set(shipped_by_makefile())
    assert len(handler_packages()) >= 3


@pytest.mark.parametrize("function", sorted(shipped_by_makefile()))
def test_each_function_ships_what_its_handler_imports(function: str) -> None:
    package = handler_packages()[function]
    assert imported_first_party(package) <= shipped_by_makefile()[function]


def test_the_wheel_declares_every_package_of_src_and_the_sandbox() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    declared = project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    assert {Path(p).name for p in declared} == FIRST_PARTY
