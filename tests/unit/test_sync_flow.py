"""Given a workspace with events, when the exporter runs, then S3, SQS and DynamoDB agree."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from datetime import timedelta

import pytest

from leadlex_exporter.exporter import LANES
from tests.conftest import Stack, run_exporter
from tests.fakes import FakeClock, FakeLeadLex, make_events

# many runs each (make test runs them; make check leaves them out)
pytestmark = pytest.mark.thorough

KEY = "wbk_" + "a" * 52


def given_workspace(
    stack: Stack, api: FakeLeadLex, counts: dict[str, int], clock: FakeClock, **entry: object
) -> None:
    api.keys[KEY] = "acme"
    api.campaigns["acme"] = [{"id": c, "name": c, "status": "active"} for c in counts]
    for campaign, count in counts.items():
        api.events[campaign] = make_events(campaign, count, clock.now() - timedelta(minutes=6))
    stack.put_secret({"workspaces": [{"name": "acme", "api_key": KEY, **entry}]})


def event_calls(api: FakeLeadLex) -> int:
    return sum(1 for path, _ in api.calls if path.endswith("/events"))


def test_first_sync_exports_every_event_once_at_ceil_n_over_100_calls(stack, api, clock):
    given_workspace(stack, api, {"cmp_a": 250, "cmp_b": 0}, clock)

    result = run_exporter(stack, clock, api)

    assert result["status"] == "ok", result
    ids = Counter(r["id"] for _, r in stack.records())
    assert len(ids) == 250
    assert set(ids.values()) == {1}
    assert event_calls(api) == 3 + 1  # ceil(250/100) for cmp_a, 1 for the empty cmp_b


def test_records_keep_api_fields_and_sit_in_their_event_date_partition(stack, api, clock):
    given_workspace(stack, api, {"cmp_a": 30}, clock)
    api.events["cmp_a"][0]["future_field"] = {"x": 1}
    api.events["cmp_a"][1]["metadata"] = None

    run_exporter(stack, clock, api)

    rows = {r["id"]: (k, r) for k, r in stack.records()}
    original = api.events["cmp_a"][0]
    key, record = rows[original["id"]]
    assert {k: record[k] for k in original} == original
    assert record["workspace"] == "acme"
    assert record["campaign_id"] == "cmp_a"
    assert f"event_date={original['timestamp'][:10]}/" in key
    assert key.startswith("events/event_date=")
    assert "/workspace=acme/part-" in key
    assert rows[api.events["cmp_a"][1]["id"]][1]["metadata"] is None


def test_idle_run_costs_one_call_per_campaign(stack, api, clock):
    given_workspace(stack, api, {"cmp_a": 120, "cmp_b": 5}, clock, campaigns=["cmp_a", "cmp_b"])
    run_exporter(stack, clock, api)
    api.calls.clear()
    clock.advance(minutes=15)
    writes: list[str] = []
    stack.session.events.register(
        "before-call.dynamodb.*", lambda event_name, **_: writes.append(event_name)
    )

    result = run_exporter(stack, clock, api)

    assert result["status"] == "ok"
    # The key's lease, taken and let go (two writes); per campaign: take the lease; then one
    # transaction commits both windows and releases both leases.
    assert writes.count("before-call.dynamodb.UpdateItem") == 2 + 2
    assert writes.count("before-call.dynamodb.TransactWriteItems") == 1
    # the key's quota memory, the workspace's poll plan and its last run (control.py)
    assert writes.count("before-call.dynamodb.PutItem") == 3
    # with the GetItem of the quota, the plan and the control item (pauses, history requests)
    assert writes.count("before-call.dynamodb.GetItem") == 3
    assert len(writes) == 11
    assert not [i for i in stack.items() if "lease_owner" in i]
    assert event_calls(api) == 2
    assert len(api.calls) == 2


def test_late_event_is_exported_once(stack, api, clock):
    given_workspace(stack, api, {"cmp_a": 10}, clock)
    run_exporter(stack, clock, api)
    late = make_events("late", 1, clock.now() - timedelta(minutes=9))[0]
    api.events["cmp_a"].append(late)
    api.visible_at[late["id"]] = clock.now() + timedelta(seconds=30)
    clock.advance(minutes=1)
    run_exporter(stack, clock, api)  # before it is visible
    clock.advance(minutes=1)

    run_exporter(stack, clock, api)
    clock.advance(minutes=20)
    run_exporter(stack, clock, api)

    ids = Counter(r["id"] for _, r in stack.records())
    assert ids[late["id"]] == 1
    assert set(ids.values()) == {1}
    assert len(ids) == 11


def test_clicked_and_replied_are_notified_with_context_and_dedup_key(stack, api, clock):
    given_workspace(stack, api, {"cmp_a": 40}, clock)

    run_exporter(stack, clock, api)

    messages = stack.messages()
    expected = [e for e in api.events["cmp_a"] if e["type"] in ("clicked", "replied")]
    assert len(messages) == len(expected) == 20
    body = json.loads(messages[0]["Body"])
    original = next(e for e in expected if e["id"] == body["event_id"])
    assert body["event"] == original
    assert body["campaign_id"] == "cmp_a"
    assert body["workspace"] == "acme"
    assert body["dedup_key"] == original["id"]
    attrs = messages[0]["MessageAttributes"]
    assert attrs["event_type"]["StringValue"] == original["type"]
    assert attrs["campaign_id"]["StringValue"] == "cmp_a"


def test_pages_of_one_window_are_never_asked_for_at_once(stack, api, clock):
    # Pages are numbered newest first: if page 3 were served before page 2, an event inserted
    # between the two would push another across their border, and it would be in neither.
    given_workspace(stack, api, {f"cmp_{i}": 450 for i in range(4)}, clock)
    lock = threading.Lock()
    inflight: Counter[str] = Counter()
    most: Counter[str] = Counter()
    handle = api.handle

    def slow_handle(request):
        campaign = request.url.path.split("/")[-2]
        with lock:
            inflight[campaign] += 1
            most[campaign] = max(most[campaign], inflight[campaign])
        time.sleep(0.01)  # a page in flight long enough for a second one to start
        try:
            return handle(request)
        finally:
            with lock:
                inflight[campaign] -= 1

    api.handle = slow_handle

    result = run_exporter(stack, clock, api)

    assert result["status"] == "ok", result
    assert set(most) >= {f"cmp_{i}" for i in range(4)}
    assert max(most.values()) == 1, most
    assert len({r["id"] for _, r in stack.records()}) == 4 * 450


def test_campaigns_are_synced_side_by_side(stack, api, clock):
    # While a page of one campaign is processed, pages of LANES - 1 others are on their way
    # (and the first page of the campaign after them): with 10 ms per page, 6 campaigns of 5
    # pages take about a third of the time one after another would.
    given_workspace(stack, api, {f"cmp_{i}": 450 for i in range(6)}, clock)
    lock = threading.Lock()
    inflight: Counter[str] = Counter()
    widest = 0
    handle = api.handle

    def slow_handle(request):
        nonlocal widest
        campaign = request.url.path.split("/")[-2]
        with lock:
            inflight[campaign] += 1
            widest = max(widest, sum(1 for n in inflight.values() if n))
        time.sleep(0.01)
        try:
            return handle(request)
        finally:
            with lock:
                inflight[campaign] -= 1

    api.handle = slow_handle

    result = run_exporter(stack, clock, api)

    assert result["status"] == "ok", result
    # the lanes' pages, and the next campaign's first page when it is asked for before one of
    # theirs comes back (it is not, at times, on a busy machine: seen once in CI-like runs)
    assert LANES + 1 >= widest >= LANES >= 2
    records = [r["id"] for _, r in stack.records()]
    assert len(records) == len(set(records)) == 6 * 450


def test_a_stop_margin_longer_than_the_invocation_is_scaled_not_a_silent_empty_run(
    stack, api, clock, caplog
):
    # a 20-second function timeout against the default 45-second margin
    given_workspace(stack, api, {"cmp_a": 120, "cmp_b": 5}, clock)

    result = run_exporter(stack, clock, api, seconds=20, STOP_MARGIN_SECONDS="45")

    assert result["stopped_early"] is None, result
    assert result["workspaces"][0]["events_exported"] == 125
    assert "stop margin scaled" in caplog.text
