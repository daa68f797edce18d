"""With TRACE_SDK_CALLS=true, X-Ray and the logs show the webhook's scheme and host only.

Webhook URLs often carry a token in their path or query (/hooks/<token>, ?key=...). The probe
runs the consumer as Lambda does (fresh interpreter, X-Ray in Lambda mode, root logger at DEBUG)
against a real receiver whose URL carries both, and reports what X-Ray would have received and
every log line; nothing it printed may contain either token.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from tests.consumer.conftest import ROOT
from tests.consumer.trace_probe import PATH_TOKEN, QUERY_TOKEN


@pytest.fixture(scope="module")
def probe() -> tuple[dict[str, Any], str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "src")])
    done = subprocess.run(
        [sys.executable, "-m", "tests.consumer.trace_probe"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report, done.stdout + done.stderr


def _webhook_subsegments(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in report["entities"] if e.get("namespace") == "remote"]


def test_nothing_sent_to_x_ray_or_logged_holds_the_urls_path_or_query(
    probe: tuple[dict[str, Any], str],
) -> None:
    report, printed = probe

    for secret in (PATH_TOKEN, QUERY_TOKEN, "/hooks/", "?key="):
        assert secret not in printed
        assert secret not in json.dumps(report["entities"])
        assert secret not in report["logs"]


def test_each_webhook_attempt_is_a_subsegment_named_by_host_with_the_origin_as_url(
    probe: tuple[dict[str, Any], str],
) -> None:
    report, _ = probe
    served, refused = report["origins"]

    subsegments = _webhook_subsegments(report)
    assert {s["name"] for s in subsegments} == {"127.0.0.1"}
    assert [s["http"]["request"] for s in subsegments] == [
        {"method": "POST", "url": origin} for origin in [served] * 4 + [refused] * 2
    ]
    assert [s["http"].get("response", {}).get("status") for s in subsegments] == [
        200, 500, 500, 200, None, None,
    ]  # fmt: skip
    errors = [s["cause"]["exceptions"][0]["type"] for s in subsegments[4:]]
    assert errors == ["ConnectError", "ConnectError"]


def test_httpx_request_lines_are_logged_with_the_origin_only(
    probe: tuple[dict[str, Any], str],
) -> None:
    report, _ = probe
    served, _ = report["origins"]

    lines = [line for line in report["logs"].splitlines() if line.startswith("HTTP Request:")]
    assert [line.split(" ")[3] for line in lines] == [served] * 4
