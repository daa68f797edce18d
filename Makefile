# Everything a developer or CI needs; each target creates the environments it uses.
PYTHON ?= python3
VENV := .venv
TOOLS := .venv-tools
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv

.PHONY: venv tools lock check test test-slow unit integration lint sam-check build demo bench simulate clean

# The versions uv.lock pins; --inexact keeps uv itself, which pip put there.
$(VENV)/.installed: pyproject.toml uv.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check uv
	$(UV) sync -q --frozen --inexact --extra dev --python $(PY)
	touch $@

venv: $(VENV)/.installed

# The SAM CLI pins versions that clash with the app's, so it lives in its own environment.
$(TOOLS)/.installed: $(VENV)/.installed
	test -x $(TOOLS)/bin/python || $(UV) venv -q --python $(PYTHON) $(TOOLS)
	$(UV) pip install -q --python $(TOOLS)/bin/python aws-sam-cli cfn-lint checkov
	touch $@

tools: $(TOOLS)/.installed

# After a change to pyproject.toml's dependencies (or to pick up new releases: uv lock -U):
# uv.lock, and from it src/requirements.txt, what `sam build` installs into both functions
# (tests/build/test_lock.py checks that the two agree).
lock: venv
	$(UV) lock
	$(UV) export -q --frozen --no-dev --no-emit-project --format requirements-txt \
		-o src/requirements.txt

# The functions' package as `sam build` makes it (src/Makefile), for template.yaml's runtime and
# architecture whatever this machine is: uv, and a Python of the runtime's version for the
# bytecode (scripts/runtime_python.py finds one; or pass RUNTIME_PYTHON=...).
RUNTIME_PYTHON ?= $(shell $(PY) -m scripts.runtime_python)
SAM_BUILD = AWS_DEFAULT_REGION=us-east-1 UV=$(abspath $(UV)) PYTHON=$(RUNTIME_PYTHON) \
	$(TOOLS)/bin/sam build --template template.yaml --build-dir .aws-sam/build

build: tools
	$(SAM_BUILD)

LINTED := src sandbox tests scripts sim bench

lint: venv
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/ruff format --check $(LINTED)
	$(VENV)/bin/mypy

# The fast gate, offline: lint and types, then the unit tests but the `thorough` ones (many runs
# each), the template's and the build's declarations, stopping at the first failure. 40-50 s
# on a 2-core machine with .venv made (`time make check`); `make test` is the whole gate.
CHECKED := tests/unit tests/template tests/build/test_lock.py tests/build/test_declared_packages.py
check: lint
	$(PY) -m pytest -q -x -p no:cacheprovider -m "not slow and not thorough" $(CHECKED)

sam-check: tools
	AWS_DEFAULT_REGION=us-east-1 $(TOOLS)/bin/sam validate --lint --template template.yaml
	AWS_DEFAULT_REGION=us-east-1 $(TOOLS)/bin/cfn-lint template.yaml
	$(TOOLS)/bin/checkov -f template.yaml --framework cloudformation --skip-download --quiet --compact
	$(SAM_BUILD)

unit: venv
	$(PY) -m pytest tests/unit -q

integration: venv
	$(PY) -m pytest tests/integration -q

# Everything but the `slow` sizes: lint, the SAM checks and build, every pytest suite (unit,
# integration, fault suites), on a pytest-xdist worker per core (TEST_WORKERS=1: one process):
# about 6.5 minutes of pytest on a 2-core machine, 11 in one process. Every test starts what it
# needs on free loopback ports, so workers share nothing.
TEST_WORKERS ?= auto
test: venv lint sam-check
	$(PY) -m pytest -q -n $(TEST_WORKERS)

test-slow: venv
	$(PY) -m pytest -q -m slow

demo: venv
	$(PY) -m scripts.demo

# dlt (the peer) and a stand-in for the Lambda runtime's boto3 live in their own environment.
# The exporter's package is built as for Lambda, but for this machine's Python and architecture,
# since the benchmark runs it here.
HOST_PYTHON = $(shell $(PY) -c 'import sys; print("%d.%d" % sys.version_info[:2])')
HOST_ARCH = $(subst aarch64,arm64,$(shell uname -m))
bench: venv tools
	test -x .venv-bench/bin/python || $(UV) venv -q --python $(PYTHON) .venv-bench
	$(UV) pip install -q --python .venv-bench/bin/python 'dlt[filesystem]==1.31.0'
	$(UV) pip install -q --python .venv-bench/bin/python --compile-bytecode \
		--target .venv-bench/lambda-runtime boto3
	rm -rf .aws-sam/bench && mkdir -p .aws-sam/bench
	$(MAKE) -s -C src build-ExporterFunction ARTIFACTS_DIR=$(abspath .aws-sam/bench) \
		UV=$(abspath $(UV)) PYTHON=$(abspath $(PY)) LAMBDA_PYTHON=$(HOST_PYTHON) \
		LAMBDA_ARCH=$(HOST_ARCH)
	BENCH_BUILD_DIR=.aws-sam/bench/ $(PY) -m bench

# Whole UTC days on a virtual clock against the sandbox's quota model: docs/simulation.md.
simulate: venv
	$(PY) -m sim --jobs 2
	$(PY) -m sim --workloads starter --seeds 7-30 --jobs 2

clean:
	rm -rf $(VENV) $(TOOLS) .aws-sam .pytest_cache .mypy_cache .ruff_cache
