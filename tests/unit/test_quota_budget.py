"""A Starter key (100 calls a day) with a backlog of 8,000 events and one active campaign."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import timedelta

import pytest

from tests.conftest import run_exporter
from tests.fakes import make_events

# many runs each (make test runs them; make check leaves them out)
pytestmark = pytest.mark.thorough

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
        results.append(
            run_exporter(stack, clock, api, NOTIFY_EVENT_TYPES="", RUN_INTERVAL_MINUTES="240")
        )
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
    assert all(v <= 95 for v in calls_per_day.values()), "the 5% reserve was touched"
    assert sum(stale_fresh_after_run) == 0, "fresh events waited behind the backfill"
    # the planner spreads the backfill over the days: runs stop reading history at its share
    assert any(r["workspaces"][0]["backfill_waiting"] for r in results)
    assert results[-1]["workspaces"][0]["backfilling"] == 0


def test_answers_arriving_out_of_order_never_raise_the_quota_left():
    from httpx import Headers

    from leadlex_exporter.quota import QuotaGuard, QuotaState
    from tests.fakes import FakeClock

    guard = QuotaGuard(QuotaState(), FakeClock(), reserve_percent=10, fresh_reserve_percent=20)

    def answer(remaining: int, limit: int = 1000, reset: int = 1_795_910_400) -> None:
        guard.observe(
            Headers(
                {
                    "X-RateLimit-Limit": str(limit),
                    "X-RateLimit-Remaining": str(remaining),
                    "X-RateLimit-Reset": str(reset),
                }
            )
        )

    answer(990)
    answer(988)  # the later call's answer came first
    answer(989)
    assert guard.state.remaining == 988
    answer(120, reset=1_795_996_800)  # the next day: whatever it says
    assert guard.state.remaining == 120
    answer(9_500, limit=10_000, reset=1_795_996_800)  # a plan upgraded during the day
    assert guard.state.remaining == 9_500
    guard.observe(Headers({"X-RateLimit-Remaining": "9_400x"}))  # unreadable: ignored
    guard.observe(Headers({"X-RateLimit-Remaining": "9400"}))  # no limit or reset: same plan
    guard.observe(Headers({"X-RateLimit-Remaining": "9450"}))
    assert guard.state.remaining == 9_400
