# Everything a developer or CI needs; each target creates the environments it uses.
PYTHON ?= python3
VENV := .venv
TOOLS := .venv-tools
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv

.PHONY: venv tools test test-slow unit integration lint sam-check demo bench simulate clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check uv
	$(UV) pip install -q --python $(PY) -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

# The SAM CLI pins versions that clash with the app's, so it lives in its own environment.
$(TOOLS)/.installed: $(VENV)/.installed
	test -x $(TOOLS)/bin/python || $(UV) venv -q --python $(PYTHON) $(TOOLS)
	$(UV) pip install -q --python $(TOOLS)/bin/python aws-sam-cli cfn-lint checkov
	touch $@

tools: $(TOOLS)/.installed

lint: venv
	$(VENV)/bin/ruff check src sandbox tests scripts sim
	$(VENV)/bin/ruff format --check src sandbox tests scripts sim
	$(VENV)/bin/mypy

sam-check: tools
	AWS_DEFAULT_REGION=us-east-1 $(TOOLS)/bin/sam validate --lint --template template.yaml
	AWS_DEFAULT_REGION=us-east-1 $(TOOLS)/bin/cfn-lint template.yaml
	$(TOOLS)/bin/checkov -f template.yaml --framework cloudformation --skip-download --quiet --compact
	$(TOOLS)/bin/sam build --template template.yaml --build-dir .aws-sam/build

unit: venv
	$(PY) -m pytest tests/unit -q

integration: venv
	$(PY) -m pytest tests/integration -q

test: venv lint sam-check
	$(PY) -m pytest -q

test-slow: venv
	$(PY) -m pytest -q -m slow

demo: venv
	$(PY) -m scripts.demo

# dlt (the peer) and a stand-in for the Lambda runtime's boto3 live in their own environment.
bench: venv tools
	test -x .venv-bench/bin/python || $(UV) venv -q --python $(PYTHON) .venv-bench
	$(UV) pip install -q --python .venv-bench/bin/python 'dlt[filesystem]==1.31.0'
	$(UV) pip install -q --python .venv-bench/bin/python --compile-bytecode \
		--target .venv-bench/lambda-runtime boto3
	AWS_DEFAULT_REGION=us-east-1 $(TOOLS)/bin/sam build --template template.yaml --build-dir .aws-sam/build
	$(PY) -m bench

# Whole UTC days on a virtual clock against the sandbox's quota model: docs/simulation.md.
simulate: venv
	$(PY) -m sim

clean:
	rm -rf $(VENV) $(TOOLS) .aws-sam .pytest_cache .mypy_cache .ruff_cache
