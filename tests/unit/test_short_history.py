"""A first sync's short history is read in the fresh pass, right after its newest page, when
the quota can spare it: one commit for the campaign instead of two. Otherwise, and for long
histories, every campaign's newest page still comes before any history."""

from __future__ import annotations

import math
from collections import Counter
from datetime import timedelta

import pytest

from leadlex_exporter.clock import Deadline
from leadlex_exporter.quota import Purpose, QuotaGuard, QuotaState
from leadlex_exporter.sync import SHORT_HISTORY_PAGES
from tests.conftest import run_exporter
from tests.fakes import FakeClock, make_events

KEY = "wbk_" + "h" * 52
CAMPAIGNS = [f"c{n}" for n in range(1, 7)]


def _setup(stack, api, clock, events_each: int) -> None:
    api.keys[KEY] = "acme"
    api.campaigns["acme"] = [{"id": c, "status": "active"} for c in CAMPAIGNS]
    newest = clock.now() - timedelta(hours=1)
    for campaign in CAMPAIGNS:  # 100 events span 16 hours: the newest page is past the lookback
        api.events[campaign] = make_events(campaign, events_each, newest, 600)
    stack.put_secret({"workspaces": [{"name": "acme", "api_key": KEY}]})


def _event_pages(api) -> list[tuple[str, int]]:
    """(campaign, page) of every events call, in the order the API served them."""
    return [
        (path.split("/campaigns/")[1].split("/")[0], int(query["page"]))
        for path, query in api.calls
        if path.endswith("/events")
    ]


def _assert_exported_once(stack, api) -> None:
    ids = Counter(r["id"] for _, r in stack.records())
    assert set(ids) == {e["id"] for c in CAMPAIGNS for e in api.events[c]}
    assert max(ids.values()) == 1


def test_a_short_history_is_read_right_after_its_newest_page(stack, api, clock):
    _setup(stack, api, clock, events_each=250)  # 3 pages each: the history is 2 pages

    result = run_exporter(stack, clock, api, NOTIFY_EVENT_TYPES="")

    pages = _event_pages(api)
    assert Counter(c for c, _ in pages) == {c: 3 for c in CAMPAIGNS}  # the lower bound
    first_history = min(i for i, (_, page) in enumerate(pages) if page > 1)
    last_newest = max(i for i, (_, page) in enumerate(pages) if page == 1)
    assert first_history < last_newest, "the history waited for the backfill phase"
    workspace = result["workspaces"][0]
    assert (workspace["backfilling"], workspace["events_exported"]) == (0, 6 * 250)
    _assert_exported_once(stack, api)


def test_a_long_history_waits_until_every_campaign_has_its_newest_page(stack, api, clock):
    # the history is SHORT_HISTORY_PAGES + 2 pages after the newest one
    _setup(stack, api, clock, events_each=(SHORT_HISTORY_PAGES + 2) * 100 + 50)

    result = run_exporter(stack, clock, api, NOTIFY_EVENT_TYPES="")

    pages = _event_pages(api)
    first_history = min(i for i, (_, page) in enumerate(pages) if page > 1)
    assert {c for c, page in pages[:first_history] if page == 1} == set(CAMPAIGNS)
    assert result["workspaces"][0]["backfilling"] == 0
    _assert_exported_once(stack, api)


def test_a_short_history_waits_when_it_would_make_fresh_calls_wait_for_pacing(stack, api, clock):
    # 5 calls a minute: the histories would push the later campaigns' newest pages back
    _setup(stack, api, clock, events_each=250)

    result = run_exporter(stack, clock, api, NOTIFY_EVENT_TYPES="", MAX_CALLS_PER_MINUTE="5")

    pages = _event_pages(api)
    first_history = min(i for i, (_, page) in enumerate(pages) if page > 1)
    assert {c for c, page in pages[:first_history] if page == 1} == set(CAMPAIGNS)
    assert result["workspaces"][0]["backfilling"] == 0
    _assert_exported_once(stack, api)


def test_when_the_backfill_budget_runs_out_mid_history_the_fresh_pass_goes_on(
    stack, api, clock, monkeypatch
):
    # can_spare says yes, but the backfill floor refuses the first history call (with calls
    # in flight on other lanes, its answer can be out of date): the campaigns after it still
    # get their newest page, and the history is left for a later run.
    monkeypatch.setattr(QuotaGuard, "can_spare", lambda self, calls, purpose: True)
    api.daily_limit = 100
    api.day, api.used = int(clock.now().timestamp() // 86_400), 68
    # after the campaign list 31 calls are left; backfills stop at 30, fresh syncs at 10
    _setup(stack, api, clock, events_each=250)

    # Poll every campaign whatever the plan says: this is about the lanes, not the planner.
    result = run_exporter(stack, clock, api, NOTIFY_EVENT_TYPES="", POLL_PLANNING="greedy")

    pages = _event_pages(api)
    assert sorted(pages) == [(c, 1) for c in CAMPAIGNS]
    assert api.refused == []
    workspace = result["workspaces"][0]
    assert workspace["status"] == "ok"
    assert not workspace["failed_campaigns"]
    assert workspace["backfilling"] == len(CAMPAIGNS)
    assert workspace["events_exported"] == 100 * len(CAMPAIGNS)


@pytest.mark.parametrize(
    ("remaining", "calls", "expected"),
    [
        (None, 1, False),  # nothing known yet
        (1_000, 10, True),
        (321, 10, True),  # 321 - 10 > floor 300 + 10 fresh calls
        (320, 10, False),
    ],
)
def test_can_spare_keeps_the_backfill_floor_and_a_runs_fresh_calls(remaining, calls, expected):
    state = QuotaState(limit=1_000, remaining=remaining, reset_at=2_000_000_000)
    guard = QuotaGuard(state, FakeClock(), reserve_percent=10, fresh_reserve_percent=20)
    guard.fresh_calls_per_run = 10
    assert guard.floor(Purpose.BACKFILL) == 300
    assert guard.can_spare(calls, Purpose.BACKFILL) is expected


def test_can_spare_is_no_when_the_calls_do_not_fit_in_this_minutes_pacing():
    clock = FakeClock()
    state = QuotaState(limit=10_000, remaining=9_000, reset_at=2_000_000_000)
    guard = QuotaGuard(
        state, clock, reserve_percent=10, fresh_reserve_percent=20, max_calls_per_minute=20
    )
    deadline = Deadline(clock, clock.now() + timedelta(hours=1), 5)
    for _ in range(10):
        guard.wait_for_slot(deadline)
    assert guard.can_spare(10, Purpose.BACKFILL) is True
    assert guard.can_spare(11, Purpose.BACKFILL) is False
    clock.advance(seconds=61)  # the minute has passed
    assert guard.can_spare(11, Purpose.BACKFILL) is True


def test_can_spare_is_no_once_the_quota_is_known_to_be_spent():
    state = QuotaState(limit=1_000, remaining=900, reset_at=2_000_000_000)
    guard = QuotaGuard(state, FakeClock(), reserve_percent=10, fresh_reserve_percent=20)
    guard.mark_exhausted(2_000_000_000)
    assert guard.can_spare(1, Purpose.BACKFILL) is False


@pytest.mark.parametrize(
    ("hours_left", "history_share", "floor"),
    [
        (24, 10, 90),  # fresh polls could use every call: history gets its 10%
        (24, 30, 70),
        (1, 10, 49),  # 4 runs left x 11 calls: history may have what they do not need
        (0.25, 10, 25),  # 1 run left: the fresh reserve (20%) is the floor's least
        (24, 80, 25),  # a share beyond what the reserves leave: they still hold
    ],
)
def test_history_gets_its_share_of_a_day_fresh_polls_could_spend_whole(
    hours_left, history_share, floor
):
    # Starter: 100 calls, 5% reserve, 20% fresh reserve, 10 campaigns and the list every run
    clock = FakeClock()
    reset = clock.now().timestamp() + hours_left * 3600
    state = QuotaState(limit=100, remaining=100, reset_at=int(reset))
    guard = QuotaGuard(
        state,
        clock,
        reserve_percent=5,
        fresh_reserve_percent=20,
        history_share_percent=history_share,
        interval_seconds=900,
    )
    guard.fresh_calls_per_run = 11
    assert guard.floor(Purpose.FRESH) == 5
    assert guard.floor(Purpose.BACKFILL) == floor


@pytest.mark.parametrize(
    ("bound_calls", "floor"),
    [
        (0, 900),  # Pro, 200 campaigns: history gets its 10%
        (800, 900),  # the maximum interval needs less than the other 90%: still 10%
        (880, 930),  # it needs more: history leaves it
        (990, 980),  # more than the day has: history still moves, by 2% of the quota
    ],
)
def test_history_leaves_what_the_maximum_poll_interval_needs(bound_calls, floor):
    clock = FakeClock()
    reset = clock.now().timestamp() + 24 * 3600
    state = QuotaState(limit=1_000, remaining=1_000, reset_at=int(reset))
    guard = QuotaGuard(
        state, clock, reserve_percent=5, fresh_reserve_percent=20, interval_seconds=900
    )
    guard.fresh_calls_per_run = 202
    guard.bound_calls = bound_calls
    assert guard.floor(Purpose.BACKFILL) == floor


def test_the_history_estimate_counts_on_the_history_share():
    from leadlex_exporter.settings import Settings
    from leadlex_exporter.status import history_calls_per_day

    env = {
        "EXPORT_BUCKET": "b",
        "NOTIFY_QUEUE_URL": "q",
        "CHECKPOINT_TABLE": "t",
        "API_KEYS_SECRET_ID": "s",
    }
    assert history_calls_per_day(100, Settings.from_env(env)) == 10
    assert history_calls_per_day(1_000, Settings.from_env(env)) == 100
    wide = Settings.from_env({**env, "HISTORY_SHARE_PERCENT": "90"})
    assert history_calls_per_day(100, wide) == 75  # what the reserve and fresh share leave
    assert history_calls_per_day(None, wide) is None


def test_a_first_day_at_the_edge_of_the_quota_leaves_history_only_what_the_maximum_spares(
    stack, api, clock
):
    # Starter, deployed at 00:00: 20 campaigns, each with 10 days of history. Polled every 6
    # hours at most, they need 80 polls before the reset, the list 4 refreshes (this run's
    # and three more), and a margin for second pages: of 95 calls above the reserve, history
    # gets what is left. It took the three later refreshes too while the run that had just
    # refreshed the list did not count them, and the day's last campaigns went past 6 hours.
    clock.current = clock.current.replace(hour=0, minute=0)
    api.keys[KEY] = "acme"
    api.daily_limit = 100
    campaigns = [f"c{n:02}" for n in range(20)]
    api.campaigns["acme"] = [{"id": c, "status": "active"} for c in campaigns]
    for campaign in campaigns:
        api.events[campaign] = make_events(campaign, 1_450, clock.now(), 600)
    stack.put_secret({"workspaces": [{"name": "acme", "api_key": KEY}]})

    run_exporter(stack, clock, api, NOTIFY_EVENT_TYPES="")

    pages = _event_pages(api)
    first_polls = sum(1 for _, page in pages if page == 1)
    assert any(page > 1 for _, page in pages), "history got nothing"
    polls_needed = 4 * len(campaigns) - first_polls
    later_lists = 3
    margin = math.ceil(0.05 * polls_needed)
    reserve = 5
    assert api.daily_limit - api.used >= reserve + polls_needed + later_lists + margin
