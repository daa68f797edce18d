"""Every command of `leadlex-exporter` against the local stack: a moto server (with IAM), the
sandbox API over HTTP, the dispatcher's and the worker's handlers run by the CLI as the local
event source mapping runs them. The CLI acts as an operator (the administrator's credentials)."""

from __future__ import annotations

import io
import json
import math
import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from leadlex_exporter import cli, runtime
from leadlex_exporter.clock import SystemClock
from tests.conftest import BUCKET, SECRET, Stack
from tests.integration.conftest import Sandbox

KEY = "wbk_cliA_" + "c" * 44
ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
DAY = timedelta(days=1)


def seed(sandbox: Sandbox) -> datetime:
    """Two campaigns with five days of events; the first sync reads the last day only."""
    world = sandbox.world
    world.add_workspace("acme", api_key=KEY, plan="pro")
    end = world.clock.now() - timedelta(minutes=6)
    for number, campaign in enumerate(("cmp_a", "cmp_b")):
        world.add_campaign("acme", campaign, status="active")
        world.bulk_events(campaign, 400, end - 5 * DAY, end, seed=number + 11)
    return world.clock.now()


@pytest.fixture
def operator(live_stack: Stack, sandbox: Sandbox, aws_env: Any, monkeypatch: pytest.MonkeyPatch):
    """The CLI's environment: the function's configuration (local stack), an operator's keys."""
    for name, value in live_stack.env(LEADLEX_API_URL=sandbox.url, BACKFILL_DAYS="1").items():
        monkeypatch.setenv(name, value)
    credentials = aws_env.session.get_credentials()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", credentials.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", credentials.secret_key)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    runtime.lambda_session.cache_clear()
    runtime.warm_secrets.cache_clear()
    live_stack.put_secret({"workspaces": [{"name": "acme", "api_key": KEY}]})
    return live_stack


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = cli.main(list(argv), out)
    return code, out.getvalue()


def run_json(*argv: str) -> Any:
    code, text = run("--json", *argv)
    assert code == 0, text
    return json.loads(text)


def campaigns_of(status: dict[str, Any], workspace: str = "acme") -> dict[str, dict[str, Any]]:
    (ws,) = [w for w in status["workspaces"] if w["workspace"] == workspace]
    return {c["campaign_id"]: c for c in ws["campaigns"]}


def ids_in_s3(stack: Stack) -> Counter[str]:
    return Counter(r["id"] for _, r in stack.records())


def test_every_command_against_the_local_stack(operator, sandbox, capsys):
    stack = operator
    start = seed(sandbox)
    truth = {c: sandbox.truth(c, start - timedelta(minutes=5)) for c in ("cmp_a", "cmp_b")}

    # sync: the first sync of both campaigns, BACKFILL_DAYS=1
    code, text = run("sync", "--workspace", "acme")
    assert code == 0, text
    assert "sync of acme: run" in text
    assert " ok" in text
    ids = ids_in_s3(stack)
    assert ids
    assert max(ids.values()) == 1
    first_day = {
        i for c in truth.values() for i, e in c.items() if e["timestamp"] >= _iso(start - DAY)
    }
    assert first_day <= set(ids)
    assert len(ids) < sum(len(c) for c in truth.values())  # the older days are not read yet

    # status: both campaigns polled, history from one day back, quota read
    status = run_json("status")
    campaigns = campaigns_of(status)
    assert set(campaigns) == {"cmp_a", "cmp_b"}
    for c in campaigns.values():
        assert c["last_poll"] is not None
        assert c["lag_seconds"] is not None
        assert c["lag_seconds"] < 3600
        assert c["history_from"]
        assert c["history_from"] > _iso(start - 2 * DAY)
        assert not c["paused"]
        assert not c["pending"]
    (ws,) = status["workspaces"]
    assert ws["quota"]["limit"] == 1000
    assert ws["last_run"]["status"] == "ok"
    code, table = run("status")
    assert code == 0
    assert "cmp_a" in table
    assert "quota:" in table
    assert KEY not in table

    # pause one campaign: a sync polls only the other
    code, text = run("pause", "--workspace", "acme", "--campaign", "cmp_b")
    assert code == 0
    assert "cmp_b" in text
    calls_before = _calls_by_campaign(sandbox)
    assert run("sync", "--workspace", "acme")[0] == 0
    calls_after = _calls_by_campaign(sandbox)
    assert calls_after["cmp_b"] == calls_before["cmp_b"]
    assert calls_after["cmp_a"] > calls_before["cmp_a"]
    assert campaigns_of(run_json("status"))["cmp_b"]["paused"] is True
    code, text = run("resume", "--workspace", "acme", "--campaign", "cmp_b")
    assert code == 0
    assert "paused now: none" in text

    # a paused workspace makes no call at all
    assert run("pause", "--workspace", "acme")[0] == 0
    before = sandbox.event_calls()
    code, text = run("sync", "--workspace", "acme")
    assert code == 0
    assert "paused" in text
    assert sandbox.event_calls() == before
    assert run("resume", "--workspace", "acme")[0] == 0

    # backfill: the dry run counts what the history load needs, one call per campaign
    lo, hi = (start - 5 * DAY).date(), (start - DAY).date()
    before = sandbox.event_calls()
    estimate = run_json(
        "backfill", "--workspace", "acme", "--from", str(lo), "--to", str(hi), "--dry-run"
    )
    assert sandbox.event_calls() - before == estimate["calls_spent_estimating"] == 2
    older = {c: [i for i in t if i not in ids] for c, t in truth.items()}
    expected_calls = sum(max(1, math.ceil(len(v) / 100)) for v in older.values())
    assert estimate["calls_needed"] == expected_calls
    assert estimate["days"] is not None
    assert estimate["days"] < 1
    assert len(ids_in_s3(stack)) == len(ids)  # a dry run changes nothing

    # backfill: the history load runs, and every event lands exactly once
    code, text = run("backfill", "--workspace", "acme", "--from", str(lo), "--to", str(hi))
    assert code == 0, text
    for _ in range(3):  # the history goes on the backfill share, over runs if need be
        if all(
            (c["backfill"] is None and c["history_request"] is None)
            for c in campaigns_of(run_json("status")).values()
        ):
            break
        assert run("sync", "--workspace", "acme")[0] == 0
    ids = ids_in_s3(stack)
    assert max(ids.values()) == 1
    for campaign, events in truth.items():
        wanted = {i for i, e in events.items() if e["timestamp"] >= _iso(start - 5 * DAY)}
        assert wanted <= set(ids), f"{len(wanted - set(ids))} of {campaign} missing"
    for c in campaigns_of(run_json("status")).values():
        assert c["history_from"] == _iso(datetime.combine(lo, datetime.min.time(), UTC))

    # rename: checkpoints move with the name; the next sync re-exports nothing
    code, text = run("rename", "--workspace", "acme", "--to", "acme-eu")
    assert code == 0, text
    secret = json.loads(
        stack.session.client("secretsmanager").get_secret_value(SecretId=SECRET)["SecretString"]
    )
    assert [w["name"] for w in secret["workspaces"]] == ["acme-eu"]
    assert secret["workspaces"][0]["api_key"] == KEY
    before = sandbox.event_calls()
    count = len(stack.records())
    assert run("sync", "--workspace", "acme-eu")[0] == 0
    assert sandbox.event_calls() - before == 2  # one idle poll per campaign, no history again
    assert len(stack.records()) == count
    status = run_json("status")
    assert [w["workspace"] for w in status["workspaces"]] == ["acme-eu"]
    assert all(c["history_from"] for c in campaigns_of(status, "acme-eu").values())

    # nothing printed a key
    assert KEY not in capsys.readouterr().out


def test_bad_requests_are_named_and_change_nothing(operator, sandbox, capsys):
    seed(sandbox)
    code, _ = run("sync", "--workspace", "nope")
    assert code == 2
    assert "no workspace named 'nope' in the secret" in capsys.readouterr().err
    code, _ = run("backfill", "--workspace", "acme", "--from", "2026-13-01", "--to", "2026-01-02")
    assert code == 2
    assert "from must be a date" in capsys.readouterr().err
    code, _ = run("replay", "--workspace", "acme", "--from", "2026-02-02", "--to", "2026-01-01")
    assert code == 2
    assert "is after to" in capsys.readouterr().err
    assert sandbox.event_calls() == 0
    assert not operator.records()


def test_the_dispatcher_refuses_a_bad_payload_with_the_reason(operator):
    from leadlex_exporter.dispatcher import lambda_handler
    from leadlex_exporter.errors import ConfigurationError
    from leadlex_exporter.local_runner import LambdaContext

    with pytest.raises(ConfigurationError, match="unknown field.*campaign_ids"):
        lambda_handler(
            {"action": "sync", "workspace": "acme", "campaign_ids": ["x"]},
            LambdaContext(60, "leadlex-dispatcher"),
        )
    with pytest.raises(ConfigurationError, match="action must be one of"):
        lambda_handler({"action": "resync", "workspace": "acme"}, LambdaContext(60))
    attributes = operator.session.client("sqs").get_queue_attributes(
        QueueUrl=operator.work_queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )
    assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "0"


def _calls_by_campaign(sandbox: Sandbox) -> Counter[str]:
    return Counter(
        c["path"].split("/")[-2]
        for c in sandbox.world.stats()["calls"]
        if c["path"].endswith("/events")
    )


def _iso(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize("kill_at", [9, 15, 21])
def test_a_replay_killed_midway_then_run_again_leaves_every_event_once(
    operator, sandbox, monkeypatch, kill_at
):
    stack = operator
    start = seed(sandbox)
    assert run("sync", "--workspace", "acme")[0] == 0  # the last day
    day = (start - 3 * DAY).date()
    assert run("backfill", "--workspace", "acme", "--from", str(day), "--to", str(day))[0] == 0
    s3 = stack.session.client("s3")
    lost = next(k for k in stack.s3_keys("events/") if f"event_date={start - DAY:%Y-%m-%d}" in k)
    lost_ids = {r["id"] for k, r in stack.records() if k == lost}
    s3.delete_object(Bucket=BUCKET, Key=lost)
    frm, to = str((start - 3 * DAY).date()), str((start - DAY).date())

    estimate = run_json("replay", "--workspace", "acme", "--from", frm, "--to", to, "--dry-run")
    assert estimate["calls_needed"] >= 2
    assert estimate["records_in_s3"] > 0
    calls = sandbox.event_calls()

    killed = subprocess.run(  # noqa: S603 - our interpreter, our module
        [
            sys.executable,
            "-m",
            "tests.integration.cli_runner",
            "replay",
            "--workspace",
            "acme",
            "--from",
            frm,
            "--to",
            to,
        ],
        env={**os.environ, "KILL_AT_AWS_CALL": str(kill_at)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    # The next attempt starts after the killed worker's deadline (its leases run until then).
    later = SystemClock.now
    monkeypatch.setattr(SystemClock, "now", lambda self: later(self) + timedelta(minutes=20))
    runtime.lambda_session.cache_clear()
    runtime.warm_secrets.cache_clear()
    code, text = run("replay", "--workspace", "acme", "--from", frm, "--to", to)
    assert code == 0, text
    assert "replayed" in text

    records = stack.records()
    ids = Counter(r["id"] for _, r in records)
    assert max(ids.values()) == 1, "an event is in S3 twice"
    assert lost_ids <= set(ids), "the lost object's events were not restored"
    truth = {i: e for c in ("cmp_a", "cmp_b") for i, e in sandbox.truth(c, start).items()}
    for _, record in records:
        assert record["timestamp"] == truth[record["id"]]["timestamp"]
    assert sandbox.event_calls() > calls  # it read the range again
