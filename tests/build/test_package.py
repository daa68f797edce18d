"""The functions' packages, as `sam build` makes them (src/Makefile), load on their runtime.

The recipe runs here as sam runs it (make, ARTIFACTS_DIR), once per function, into a temporary
directory; the runtime and architecture are src/Makefile's, which must be template.yaml's.
The host cannot run an arm64 package, so the proof is in the files: wheel tags, ELF headers,
bytecode versions (package.py), and the checks are shown to catch a package built for another
machine. Needs the package registry (or uv's cache), as `sam build` does.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.tags import parse_tag
from packaging.utils import canonicalize_name

from scripts.runtime_python import find_interpreter, globals_function
from tests.build import package

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
UV = Path(sys.executable).with_name("uv")
FUNCTIONS = ["WorkerFunction", "ConsumerFunction"]


def _makefile_default(name: str) -> str:
    match = re.search(rf"^{name} \?= (\S+)$", (SRC / "Makefile").read_text(), re.MULTILINE)
    assert match, f"src/Makefile sets no default {name}"
    return match.group(1)


PYTHON = _makefile_default("LAMBDA_PYTHON")
ARCH = _makefile_default("LAMBDA_ARCH")


def build(function: str, target: Path, **variables: str) -> Path:
    """src/Makefile's target for `function` into `target`, as `sam build` runs it."""
    interpreter = find_interpreter(variables.get("LAMBDA_PYTHON", PYTHON))
    assert interpreter, f"no Python {PYTHON} here to compile the bytecode with"
    target.mkdir(parents=True)
    overrides = [f"{k}={v}" for k, v in variables.items()]
    subprocess.run(
        ["make", "-s", "-C", str(SRC), f"build-{function}", f"ARTIFACTS_DIR={target}",
         f"UV={UV}", f"PYTHON={interpreter}", *overrides],
        check=True, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    return target


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("sam-build")
    return {function: build(function, root / function) for function in FUNCTIONS}


def locked_requirements() -> dict[str, str]:
    """name -> version of every pin in src/requirements.txt."""
    pins = {}
    for line in (SRC / "requirements.txt").read_text().splitlines():
        if line and not line[0].isspace() and not line.startswith("#"):
            requirement = Requirement(line.rstrip(" \\"))
            [spec] = requirement.specifier
            assert spec.operator == "==", line
            pins[canonicalize_name(requirement.name)] = spec.version
    return pins


def installed(package_dir: Path) -> dict[str, str]:
    """name -> version of every distribution installed in a package."""
    found = {}
    for dist_info in package_dir.glob("*.dist-info"):
        name, version = dist_info.name.removesuffix(".dist-info").rsplit("-", 1)
        found[canonicalize_name(name)] = version
    return found


def test_the_build_targets_the_runtime_and_architecture_of_the_template() -> None:
    # SAM passes a makefile build nothing but ARTIFACTS_DIR: src/Makefile restates them.
    function = globals_function()
    assert f"python{PYTHON}" == function["runtime"]
    assert function["architecture"] == ARCH
    template = (ROOT / "template.yaml").read_text()
    # One place in the template: no function sets its own.
    assert template.count("Runtime:") == 1, "Runtime set outside Globals"
    assert template.count("Architectures:") == 1, "Architectures set outside Globals"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_wheel_in_the_package_is_for_the_runtime_and_architecture(
    built: dict[str, Path], function: str
) -> None:
    package_dir = built[function]
    assert installed(package_dir) == locked_requirements()  # exactly the locked set
    assert package.wheel_problems(package_dir, PYTHON, ARCH) == []
    native = [
        tag
        for dist_info in package_dir.glob("*.dist-info")
        for tag in package.wheel_tags(dist_info)
        if not tag.endswith("-any")
    ]
    assert any(f"_{package.MACHINES[ARCH]}" in tag for tag in native), native  # orjson, wrapt


@pytest.mark.parametrize("function", FUNCTIONS)
def test_native_code_and_bytecode_are_for_the_runtime_and_architecture(
    built: dict[str, Path], function: str
) -> None:
    package_dir = built[function]
    assert package.binary_problems(package_dir, ARCH) == []
    assert list(package_dir.glob("wrapt/*.so")), "wrapt's extension"
    assert package.bytecode_problems(package_dir, PYTHON) == []
    pyc = list(package_dir.rglob("*.pyc"))
    handler = {
        "WorkerFunction": "leadlex_exporter/worker",
        "ConsumerFunction": "leadlex_consumer/handler",
    }
    package_name, module = handler[function].split("/")
    assert list(package_dir.glob(f"{package_name}/__pycache__/{module}.*.pyc")), pyc[:5]
    assert list(package_dir.glob("leadlex_common/__pycache__/environment.*.pyc")), pyc[:5]


def test_a_package_built_for_another_machine_is_caught(tmp_path: Path) -> None:
    other = "x86_64" if ARCH == "arm64" else "arm64"
    wrong = build("ConsumerFunction", tmp_path / "wrong", LAMBDA_ARCH=other)
    problems = package.wheel_problems(wrong, PYTHON, ARCH)
    assert any(p.startswith("wrapt-") for p in problems), problems
    assert any("_wrappers" in p for p in package.binary_problems(wrong, ARCH))
    # and it is the right package for the machine it was built for
    assert package.wheel_problems(wrong, PYTHON, other) == []


@pytest.mark.parametrize(
    ("tag", "fits"),
    [
        ("py3-none-any", True),
        ("py2.py3-none-any", True),
        (f"cp3{PYTHON[2:]}-cp3{PYTHON[2:]}-manylinux_2_17_{package.MACHINES[ARCH]}", True),
        (f"cp3{PYTHON[2:]}-cp3{PYTHON[2:]}-manylinux2014_{package.MACHINES[ARCH]}", True),
        (f"cp39-abi3-manylinux_2_17_{package.MACHINES[ARCH]}", True),
        ("py2-none-any", False),
        (f"cp3{PYTHON[2:]}-cp3{PYTHON[2:]}-macosx_11_0_arm64", False),
        (f"cp3{PYTHON[2:]}-cp3{PYTHON[2:]}-win_amd64", False),
        (f"cp3{PYTHON[2:]}-cp3{PYTHON[2:]}-musllinux_1_2_{package.MACHINES[ARCH]}", False),
        (f"cp3{PYTHON[2:]}-cp3{PYTHON[2:]}-linux_{package.MACHINES[ARCH]}", False),
        (f"cp3{PYTHON[2:]}-cp3{PYTHON[2:]}-manylinux_2_17_riscv64", False),
        (f"cp3{PYTHON[2:]}-cp3{PYTHON[2:]}-manylinux_2_39_{package.MACHINES[ARCH]}", False),
        (f"cp310-cp310-manylinux_2_17_{package.MACHINES[ARCH]}", False),
        (f"cp314-cp314-manylinux_2_17_{package.MACHINES[ARCH]}", False),
        (f"cp314-abi3-manylinux_2_17_{package.MACHINES[ARCH]}", False),
        (f"pp310-pypy310_pp73-manylinux_2_17_{package.MACHINES[ARCH]}", False),
    ],
)
def test_a_wheel_for_another_platform_or_python_is_caught(
    tmp_path: Path, tag: str, fits: bool
) -> None:
    dist_info = tmp_path / "example-1.0.dist-info"
    dist_info.mkdir()
    tags = sorted(str(t) for t in parse_tag(tag))  # one Tag line each, as a wheel has
    lines = "".join(f"Tag: {t}\n" for t in tags)
    (dist_info / "WHEEL").write_text(f"Wheel-Version: 1.0\nRoot-Is-Purelib: false\n{lines}")
    problems = package.wheel_problems(tmp_path, PYTHON, ARCH)
    assert problems == ([] if fits else [f"example-1.0.dist-info: {', '.join(tags)}"])


@pytest.mark.parametrize("function", FUNCTIONS)
def test_boto3_and_botocore_ship_as_the_locked_pair(built: dict[str, Path], function: str) -> None:
    # The package's own, first on Lambda's path: not the runtime's boto3 over our botocore.
    shipped = installed(built[function])
    locked = locked_requirements()
    for name in ("boto3", "botocore", "s3transfer", "jmespath"):
        assert shipped.get(name) == locked[name], name
    metadata = next(built[function].glob("boto3-*.dist-info")) / "METADATA"
    [wants] = [
        requirement
        for line in metadata.read_text().splitlines()
        if line.startswith("Requires-Dist:")
        for requirement in [Requirement(line.split(":", 1)[1])]
        if requirement.name == "botocore" and not requirement.extras and not requirement.marker
    ]
    assert shipped["botocore"] in wants.specifier


def test_the_exporter_package_has_its_trimmed_botocore_data(built: dict[str, Path]) -> None:
    manifest = built["WorkerFunction"] / "leadlex_exporter" / "botocore_data" / "manifest.json"
    assert f'"botocore_version":"{locked_requirements()["botocore"]}"' in manifest.read_text()


def test_each_function_ships_only_its_own_package(built: dict[str, Path]) -> None:
    ours = {"leadlex_common", "leadlex_exporter", "leadlex_consumer", "leadlex_sandbox"}
    shipped = {
        name: {p.name for p in path.iterdir() if p.name in ours} for name, path in built.items()
    }
    assert shipped == {
        "WorkerFunction": {"leadlex_common", "leadlex_exporter"},
        "ConsumerFunction": {"leadlex_common", "leadlex_consumer"},
    }


def test_the_consumer_imports_nothing_from_the_exporter() -> None:
    imports = []
    for path in sorted((SRC / "leadlex_consumer").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                imports += [(path.name, alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                imports.append((path.name, node.module))
    assert imports, "no imports found: the walk is broken"
    assert [i for i in imports if i[1].split(".")[0] == "leadlex_exporter"] == []


def test_the_consumer_runs_without_the_exporter_installed() -> None:
    # Every consumer module imports with leadlex_exporter unimportable (here, not in the
    # package: the host may not run the package's binaries).
    modules = sorted(p.stem for p in (SRC / "leadlex_consumer").glob("*.py"))
    probe = (
        "import importlib, sys; sys.modules['leadlex_exporter'] = None\n"
        f"for m in {modules!r}: importlib.import_module('leadlex_consumer.' + m)\n"
        "print('ok')"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.stdout.strip() == "ok", done.stderr[-2000:]
