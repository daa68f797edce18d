"""A Starter key (100 calls a day) with a backlog of 8,000 events and one active campaign."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import timedelta

from tests.conftest import run_exporter
from tests.fakes import make_events

KEY = "wbk_" + "q" * 52


def test_backlog_larger_than_a_days_quota_finishes_over_days_without_starving_fresh_events(
    stack, api, clock
):
    api.daily_limit = 100
    api.keys[KEY] = "acme"
    api.campaigns["acme"] = [{"id": c, "status": "active"} for c in ("old1", "old2", "live")]
    start = clock.now()
    api.events["old1"] = make_events("old1", 4_000, start - timedelta(days=2), 300)
    api.events["old2"] = make_events("old2", 4_000, start - timedelta(days=2), 300)
    api.events["live"] = []
    stack.put_secret({"workspaces": [{"name": "acme", "api_key": KEY}]})
    calls_per_day: defaultdict[int, int] = defaultdict(int)
    stale_fresh_after_run = []
    results = []

    for tick in range(4 * 6):  # every 4 hours for 4 days
        fresh = make_events(f"live{tick}", 3, clock.now() - timedelta(minutes=6), 20)
        api.events["live"] += fresh
        before = len(api.calls)
        # No notifications here: moto's SQS slows down with every message left in the queue.
        results.append(run_exporter(stack, clock, api, NOTIFY_EVENT_TYPES=""))
        calls_per_day[int(clock.now().timestamp() // 86_400)] += len(api.calls) - before
        exported = {
            r["id"] for _, r in stack.records(prefix="events/") if r["campaign_id"] == "live"
        }
        stale_fresh_after_run.append(len({e["id"] for e in fresh} - exported))
        clock.advance(hours=4)

    ids = Counter(r["id"] for _, r in stack.records())
    expected = {e["id"] for c in ("old1", "old2", "live") for e in api.events[c]}
    assert set(ids) == expected
    assert max(ids.values()) == 1
    assert api.refused == [], "called although the quota was known to be spent"
    assert max(calls_per_day.values()) <= 100
    assert all(v <= 90 for v in calls_per_day.values()), "the 10% reserve was touched"
    assert sum(stale_fresh_after_run) == 0, "fresh events waited behind the backfill"
    assert any(r["stopped_early"] == "quota" for r in results)
    assert results[-1]["workspaces"][0]["backfilling"] == 0
