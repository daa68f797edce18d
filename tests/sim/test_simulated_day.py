"""The simulation itself: the exporter on a virtual clock against the sandbox's quota model.
A short Starter window here; whole days are `make simulate` (docs/simulation.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sim.clock import VirtualClock
from sim.day import Slots, simulate
from sim.figures import HOUR, Figures, figures
from sim.workloads import WORKLOADS, Workload

SMALL_STARTER = Workload("starter", "starter", workspaces=1, campaigns=6, active=2)


def six_hours(policy: str) -> Figures:
    return figures(simulate(SMALL_STARTER, policy, hours=6, warmup=timedelta(hours=6)))


@pytest.fixture(scope="module")
def even() -> Figures:
    return six_hours("even")


@pytest.fixture(scope="module")
def greedy() -> Figures:
    return six_hours("greedy")


def test_a_starter_morning_on_the_planner_is_fresh_exactly_once_and_within_the_quota(even):
    # Given a Starter key, 6 campaigns (2 sending all day), after 6 hours of warm-up
    # When the exporter runs every 15 virtual minutes from 00:00 to 06:00 UTC
    day = even

    # Then every event that showed up landed in S3 once, none waited past the longest interval
    assert day.all.count >= 10
    assert day.hot.count > 0
    assert day.not_landed == 0
    assert day.duplicates == 0
    assert day.all.max <= 6 * HOUR + 15 * 60
    assert day.hot.p50 <= 2 * HOUR
    # And the quota was spread: a call every hour, a quarter of the day's budget at most
    assert day.hours_no_call == 0
    assert day.hours_silent == 0
    assert 6 <= day.calls <= 0.25 * 90 + 5
    assert day.answers_429 == 0
    assert day.keys_stopped == 0
    assert day.overruns == 0


def test_polling_everything_spends_the_day_at_its_start_and_goes_stale(even, greedy):
    # Polling everything is fresh right after midnight, then the budget is gone: the events of
    # the rest of the morning wait for the next day's reset
    assert greedy.calls > 2 * even.calls, "greedy should spend far faster"
    assert greedy.hours_silent > even.hours_silent
    assert greedy.hot.max > 6 * HOUR > even.hot.max


@pytest.mark.slow
def test_a_whole_starter_day_keeps_its_reserve_and_exports_every_hour():
    day = figures(simulate(WORKLOADS["starter"], "even"))

    assert day.not_landed == 0
    assert day.duplicates == 0
    assert day.hours_silent == 0
    assert day.calls <= 90
    assert day.answers_429 <= 3


def test_workers_side_by_side_each_start_when_a_slot_frees():
    # Given five worker slots and ten keys whose runs each sleep ten minutes
    start = datetime(2026, 11, 3, tzinfo=UTC)
    clock = VirtualClock(start)
    began: list[datetime] = []

    def export(work: str, time_left: object) -> str:
        began.append(clock.now())
        clock.sleep(600)
        return work

    slots = Slots(clock, 5, export)
    # When the tick hands them over one after another
    done = [slots(f"key-{n}", None) for n in range(10)]
    # Then five start at the tick, five when the first five end, and the tick ends after two
    assert done == [f"key-{n}" for n in range(10)]
    assert began == [start] * 5 + [start + timedelta(minutes=10)] * 5
    assert slots.end() == start + timedelta(minutes=20)


def test_every_key_of_an_agency_is_served_at_every_tick():
    # Given 6 Starter keys of 20 campaigns each (more keys than worker slots), after an hour
    # of warm-up (first syncs)
    agency = Workload("agency", "starter", workspaces=6, campaigns=20, active=3)
    outcome = simulate(agency, "even", hours=1, warmup=timedelta(hours=1))
    names = sorted(f"agency-{n:02d}" for n in range(6))
    day = figures(outcome)

    # Then every tick ran every key's worker, none stopped by its deadline, none over the tick
    assert all(sorted(w["workspace"] for w in t.workspaces) == names for t in outcome.ticks)
    assert all(t.ended <= t.scheduled + outcome.interval for t in outcome.ticks)
    assert day.keys_stopped == 0
    assert day.overruns == 0
    assert day.not_landed == 0
    assert day.duplicates == 0
    assert day.answers_429 == 0
