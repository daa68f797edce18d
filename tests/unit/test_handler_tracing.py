"""SDK-call tracing is opt-in (TRACE_SDK_CALLS, template parameter TraceSdkCalls).

Without it, neither importing a handler nor invoking it may load aws_xray_sdk (about 17 MB and
100 ms of cold start). With it, the first invocation makes the Powertools Tracer, once per
sandbox, and runs the handler inside it. Each case runs in a fresh interpreter, since
sys.modules is the thing being checked.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from leadlex_common.environment import trace_sdk_calls

SRC = Path(__file__).resolve().parents[2] / "src"
HANDLERS = ["leadlex_exporter.dispatcher", "leadlex_exporter.worker", "leadlex_consumer.handler"]

# Imports the handler (and says what that loaded), swaps its body for a stub, invokes it
# twice, and says what got loaded and made: one JSON line each.
_PROBE = """
import importlib, json, sys
from types import SimpleNamespace

module = importlib.import_module(sys.argv[1])
# each function's package has its own tracing module (the consumer ships alone)
sdk_tracer = importlib.import_module(sys.argv[1].split('.')[0] + '.tracing').sdk_tracer
print(json.dumps({"xray_after_import": "aws_xray_sdk" in sys.modules}), flush=True)
report = {}
calls = []
module.handle = lambda event, context: calls.append(event["n"]) or {"n": event["n"]}
context = SimpleNamespace(
    function_name="f",
    memory_limit_in_mb=128,
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:f",
    aws_request_id="r",
    get_remaining_time_in_millis=lambda: 60_000,
)
report["results"] = [module.lambda_handler({"n": n}, context) for n in (1, 2)]
report["calls"] = calls
report["xray_after_invocations"] = "aws_xray_sdk" in sys.modules
report["tracers_made"] = sdk_tracer.cache_info().misses
if sys.argv[2] == "inspect-tracer":
    tracer = sdk_tracer(module.SERVICE)
    report["tracer"] = type(tracer).__module__ + "." + type(tracer).__qualname__
    report["tracer_cached"] = tracer is sdk_tracer(module.SERVICE)
    report["tracers_made"] = sdk_tracer.cache_info().misses
print(json.dumps(report))
"""


def _probe(module: str, trace_sdk_calls: str | None, *, inspect_tracer: bool) -> dict[str, Any]:
    """The probe's report; fails on aws_xray_sdk at import before anything else."""
    env = {k: v for k, v in os.environ.items() if k != "TRACE_SDK_CALLS"}
    env.update(
        PYTHONPATH=os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")]),
        AWS_DEFAULT_REGION="us-east-1",
        POWERTOOLS_TRACE_DISABLED="true",  # no X-Ray daemon needed
        POWERTOOLS_LOG_LEVEL="WARNING",
    )
    if trace_sdk_calls is not None:
        env["TRACE_SDK_CALLS"] = trace_sdk_calls
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _PROBE,
            module,
            "inspect-tracer" if inspect_tracer else "-",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    assert lines, done.stderr
    assert json.loads(lines[0]) == {"xray_after_import": False}, "import loaded aws_xray_sdk"
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(lines[-1])
    return report


@pytest.mark.parametrize("module", HANDLERS)
@pytest.mark.parametrize("flag", [None, "false", ""])
def test_without_the_flag_aws_xray_sdk_is_never_imported(module: str, flag: str | None) -> None:
    report = _probe(module, flag, inspect_tracer=False)  # checks the import itself

    assert report["calls"] == [1, 2]
    assert report["results"] == [{"n": 1}, {"n": 2}]
    assert report["xray_after_invocations"] is False
    assert report["tracers_made"] == 0


@pytest.mark.parametrize("module", HANDLERS)
def test_with_the_flag_one_tracer_per_sandbox_wraps_every_invocation(module: str) -> None:
    report = _probe(module, "true", inspect_tracer=True)  # nothing at import time even so

    assert report["calls"] == [1, 2]
    assert report["results"] == [{"n": 1}, {"n": 2}]
    assert report["xray_after_invocations"] is True
    assert report["tracer"] == "aws_lambda_powertools.tracing.tracer.Tracer"
    assert report["tracer_cached"] is True
    assert report["tracers_made"] == 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        (" true ", True),
        ("false", False),
        ("", False),
        ("1", False),
        ("yes", False),
    ],
)
def test_only_true_turns_sdk_tracing_on(value: str, expected: bool) -> None:
    assert trace_sdk_calls({"TRACE_SDK_CALLS": value}) is expected
    assert trace_sdk_calls({}) is False
