"""Replay against a moto server (IAM enforced) and the sandbox, in real processes killed with
SIGKILL before an AWS call: after the next replay every id is in S3 exactly once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from tests.conftest import exporter_resources
from tests.iam_policy import function_statements
from tests.integration.conftest import run_as_function, run_process
from tests.integration.test_crash_and_overlap import KEY, seed

BUCKET_ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


def run_replay(stack, sandbox, *args: str) -> tuple[int, dict[str, Any] | None]:
    environment = {**os.environ, **stack.env(LEADLEX_API_URL=sandbox.url)}
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "tests.integration.replay_runner", "acme", "cmp_a", *args],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=BUCKET_ROOT,
    )
    out, err = process.communicate(timeout=300)
    if process.returncode not in (0, -9):
        print(err[-3000:])
    lines = [line for line in out.splitlines() if line.startswith('{"workspace"')]
    return process.returncode, json.loads(lines[-1]) if lines else None


def run_as_worker(stack, aws_env, monkeypatch) -> None:
    """The worker's role from template.yaml, where replay will run. moto authorizes a
    ListObjectsV2 as `s3:ListObjectsV2`; AWS as `s3:ListBucket` on the bucket, which the
    template grants (the unit suite's policy hook checks that mapping): the same grant under
    moto's name, on the same resource."""
    statements = function_statements("WorkerFunction", exporter_resources(stack))
    [listing] = [s for s in statements if "s3:ListBucket" in s["Action"]]
    alias = {**listing, "Sid": "MotoNameOfListBucket", "Action": ["s3:ListObjectsV2"]}
    run_as_function(aws_env, "WorkerFunction", [*statements, alias], monkeypatch)


@pytest.mark.parametrize("step", [3, pytest.param(1, marks=pytest.mark.slow)])
def test_export_delete_an_object_replay_killed_then_again_leaves_each_id_once(
    live_stack, aws_env, sandbox, monkeypatch, step
):
    stack = live_stack
    start = seed(sandbox, events=260)
    stack.put_secret({"workspaces": [{"name": "acme", "api_key": KEY}]})
    code, summary = run_process(stack, sandbox, BATCH_MAX_EVENTS="100")
    assert code == 0
    assert summary["status"] == "ok", summary
    before = {r["id"]: (k, r) for k, r in stack.records()}
    # One date's object of cmp_a goes (a user deleted it downstream).
    day = (start - timedelta(days=2)).date()
    lost_key = next(
        k
        for k, r in before.values()
        if r["timestamp"].startswith(str(day)) and r["campaign_id"] == "cmp_a"
    )
    lost = {i for i, (k, r) in before.items() if k == lost_key and r["campaign_id"] == "cmp_a"}
    others = {i for i, (k, r) in before.items() if k == lost_key and r["campaign_id"] != "cmp_a"}
    assert lost
    stack.session.client("s3").delete_object(Bucket="leadlex-export-test", Key=lost_key)
    run_as_worker(stack, aws_env, monkeypatch)
    first, last = str(day - timedelta(days=1)), str(day + timedelta(days=1))

    code, dry = run_replay(stack, sandbox, first, last, "--dry-run")
    assert code == 0
    assert dry["api_calls"] == 0
    assert dry["api_calls_estimated"] >= 1
    code, clean = run_replay(stack, sandbox, first, last)  # how many AWS calls a replay makes
    assert code == 0
    assert clean["records_added"] == len(lost)
    assert clean["aws_calls"] > 8, "the replay made suspiciously few AWS calls"  # 17 measured
    truth = sandbox.truth("cmp_a", start)
    present = set(before) - others - lost  # what a reader saw before any replay
    offset = 0
    for kill_at in range(2, clean["aws_calls"] + 1, step):
        forget_replays(stack)  # back to the state before the first replay
        offset += 300  # each run starts after the one before's lease (its deadline)
        code, _ = run_replay(
            stack,
            sandbox,
            first,
            last,
            "--kill-at",
            str(kill_at),
            "--seconds",
            "120",
            "--clock-offset",
            str(offset),
        )
        assert code == -9, f"the replay finished before its kill point {kill_at}"
        ids = Counter(r["id"] for _, r in stack.records())
        assert max(ids.values()) == 1, f"an event twice in S3 after a kill at {kill_at}"
        assert present <= set(ids), f"an event went missing after a kill at {kill_at}"
        offset += 300
        code, result = run_replay(stack, sandbox, first, last, "--clock-offset", str(offset))

        assert code == 0
        assert result["stopped_early"] is None
        ids = Counter(r["id"] for _, r in stack.records())
        assert max(ids.values()) == 1, f"an event twice in S3 (kill at {kill_at})"
        assert set(ids) == set(before) - others, f"an event of cmp_a is missing ({kill_at})"
        for key, record in stack.records():
            if record["id"] in lost:
                assert "/part-replay-" in key
                assert {k: record[k] for k in truth[record["id"]]} == truth[record["id"]]


def forget_replays(stack) -> None:
    s3 = stack.session.client("s3")
    for key in stack.s3_keys("events/"):
        if "/part-replay-" in key:
            s3.delete_object(Bucket="leadlex-export-test", Key=key)
