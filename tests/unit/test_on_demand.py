"""On-demand work in the worker: a history request (`backfill`) reads only what the campaign
never read, exactly once, up to the instant its history started; pauses stop calls."""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import timedelta

import pytest

from leadlex_exporter.control import ControlStore
from leadlex_exporter.key_export import KeyExport
from leadlex_exporter.settings import Settings
from leadlex_exporter.timestamps import format_timestamp
from leadlex_exporter.work_items import WorkItem
from tests.conftest import TABLE, run_exporter
from tests.fakes import make_events
from tests.unit.test_sync_flow import KEY, event_calls, given_workspace

FINGERPRINT = hashlib.sha256(b"leadlex-exporter/quota/" + KEY.encode()).hexdigest()[:20]


def export(stack, clock, api, target, **env):
    from contextlib import nullcontext

    settings = Settings.from_env(stack.env(**env))
    work = KeyExport(settings, clock, stack.session, lambda key: nullcontext(api.client(key)))
    summary = work(WorkItem(FINGERPRINT, ("acme",), "", target), timedelta(seconds=900))
    assert summary is not None
    return summary.as_dict()


def test_a_history_request_reads_what_the_first_sync_left_exactly_once(stack, api, clock):
    given_workspace(stack, api, {"cmp_a": 0}, clock)
    # three days of events, one every ten minutes, and one exactly where the first sync's
    # history (BACKFILL_DAYS=1) starts: that one is read by the first sync only
    api.events["cmp_a"] = make_events("cmp_a", 432, clock.now() - timedelta(minutes=6), 600)
    start = format_timestamp(clock.now() - timedelta(days=1))
    api.events["cmp_a"].append({"id": "evt_at_start", "type": "sent", "timestamp": start})
    api.events["cmp_a"].sort(key=lambda e: e["timestamp"], reverse=True)

    run_exporter(stack, clock, api, BACKFILL_DAYS="1")
    first = Counter(r["id"] for _, r in stack.records())
    assert "evt_at_start" in first
    assert len(first) < len(api.events["cmp_a"])

    clock.advance(minutes=15)
    day = (clock.now() - timedelta(days=3)).date().isoformat()
    to = (clock.now() - timedelta(days=1)).date().isoformat()
    result = export(
        stack,
        clock,
        api,
        {"action": "backfill", "workspace": "acme", "from": day, "to": to},
        BACKFILL_DAYS="1",
    )
    assert result["workspaces"][0]["history_requests"]["cmp_a"].startswith("history from")
    # the request is met on the next run (the state holds it), and then dropped
    clock.advance(minutes=15)
    run_exporter(stack, clock, api, BACKFILL_DAYS="1")
    ids = Counter(r["id"] for _, r in stack.records())
    assert max(ids.values()) == 1
    assert set(ids) == {e["id"] for e in api.events["cmp_a"]}
    control = ControlStore(stack.session.client("dynamodb"), TABLE).load("acme")
    assert control.history_requests == {}


def test_a_request_for_history_already_read_reads_nothing(stack, api, clock):
    given_workspace(stack, api, {"cmp_a": 50}, clock)
    run_exporter(stack, clock, api)  # BACKFILL_DAYS 0: everything the API holds
    before, calls = len(stack.records()), event_calls(api)
    clock.advance(minutes=15)
    day = (clock.now() - timedelta(days=2)).date().isoformat()
    result = export(
        stack, clock, api, {"action": "backfill", "workspace": "acme", "from": day, "to": day}
    )
    assert "history is complete" in result["workspaces"][0]["history_requests"]["cmp_a"]
    assert len(stack.records()) == before
    assert event_calls(api) - calls <= 1  # at most the campaign's own due poll


def test_a_sync_polls_the_named_campaign_even_when_not_due(stack, api, clock):
    api.daily_limit = 100  # a Starter key: the planner spreads it, so not every run polls
    given_workspace(stack, api, {"cmp_a": 5, "cmp_b": 5}, clock)
    run_exporter(stack, clock, api)
    clock.advance(minutes=1)  # nothing is due a minute later
    api.calls.clear()
    assert run_exporter(stack, clock, api)["workspaces"][0]["polled_campaigns"] == 0
    assert event_calls(api) == 0
    result = export(
        stack, clock, api, {"action": "sync", "workspace": "acme", "campaigns": ["cmp_b"]}
    )
    assert result["workspaces"][0]["polled_campaigns"] == 1
    assert [p for p, _ in api.calls if p.endswith("/events")] == [
        "/functions/v1/api-gateway/v1/campaigns/cmp_b/events"
    ]


def test_paused_campaigns_make_no_call_and_do_not_count_as_stale(stack, api, clock):
    given_workspace(stack, api, {"cmp_a": 5, "cmp_b": 5}, clock)
    run_exporter(stack, clock, api)
    controls = ControlStore(stack.session.client("dynamodb"), TABLE)
    controls.pause("acme", ["cmp_b"])
    clock.advance(hours=7)  # both past the maximum interval: due
    api.calls.clear()
    result = run_exporter(stack, clock, api)["workspaces"][0]
    assert [p.split("/")[-2] for p, _ in api.calls if p.endswith("/events")] == ["cmp_a"]
    assert result["paused_campaigns"] == ["cmp_b"]
    assert result["max_lag_seconds"] < 3600  # cmp_b's 7 hours do not count
    controls.pause("acme")
    clock.advance(hours=1)
    api.calls.clear()
    result = run_exporter(stack, clock, api)
    assert result["status"] == "ok"
    assert result["workspaces"][0]["status"] == "paused"
    assert api.calls == []


def test_a_request_waits_for_a_busy_key_then_comes_back_to_the_queue_soon(stack, api, clock):
    from contextlib import nullcontext

    from leadlex_exporter.errors import KeyBusyError
    from leadlex_exporter.key_export import RETRY_SECONDS
    from leadlex_exporter.key_lease import KeyLease
    from leadlex_exporter.local_runner import EventSource, LambdaContext
    from leadlex_exporter.worker import process_batch

    given_workspace(stack, api, {"cmp_a": 5}, clock)
    now_ms = int(clock.now().timestamp() * 1000)
    held = KeyLease(stack.session.client("dynamodb"), TABLE)
    assert held.acquire(FINGERPRINT, "a-scheduled-run", now_ms + 3_600_000, now_ms)
    settings = Settings.from_env(stack.env())
    work = KeyExport(settings, clock, stack.session, lambda key: nullcontext(api.client(key)))

    # a scheduled item leaves the key to the run that holds it, at once
    assert work(WorkItem(FINGERPRINT, ("acme",), ""), timedelta(seconds=900)) is None
    assert clock.slept == []
    # an on-demand one waits a minute for it, then goes back to the queue for two minutes
    sqs = stack.session.client("sqs")
    target = {"action": "sync", "workspace": "acme"}
    body = WorkItem(FINGERPRINT, ("acme",), "", target).body()
    sqs.send_message(QueueUrl=settings.work_queue_url, MessageBody=body)
    changes: list[dict] = []
    stack.session.events.register(
        "before-parameter-build.sqs.ChangeMessageVisibility",
        lambda params, **_: changes.append(params),
    )
    source = EventSource(sqs, settings.work_queue_url)
    source.poll(
        lambda event, context: process_batch(event, context, work, work.retry_soon), LambdaContext()
    )
    assert sum(clock.slept) == 60
    assert len(source.responses[0]["batchItemFailures"]) == 1
    assert [c["VisibilityTimeout"] for c in changes] == [RETRY_SECONDS]
    assert api.calls == []
    with pytest.raises(KeyBusyError):
        work(WorkItem(FINGERPRINT, ("acme",), "", target), timedelta(seconds=900))
    # once the key is free, the request runs
    held.release(FINGERPRINT, "a-scheduled-run")
    assert work(WorkItem(FINGERPRINT, ("acme",), "", target), timedelta(seconds=900)) is not None
    assert event_calls(api) == 1
