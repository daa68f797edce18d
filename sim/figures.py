"""What a simulated day measured: staleness, silent hours, calls, 429s, poll gaps, starved
keys. Staleness is from the moment an event became visible in the API to the virtual time of
the PUT that wrote it to S3."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sim.day import Outcome, Tick
from sim.objects import ObjectFigures, object_figures

HOUR = 3600.0


@dataclass(frozen=True)
class Spread:
    p50: float
    p95: float
    max: float
    count: int

    @classmethod
    def of(cls, values: list[float]) -> Spread:
        if not values:
            return cls(math.nan, math.nan, math.nan, 0)
        ordered = sorted(values)
        return cls(_rank(ordered, 0.5), _rank(ordered, 0.95), ordered[-1], len(ordered))


@dataclass(frozen=True)
class Figures:
    workload: str
    title: str
    policy: str
    seed: int
    all: Spread  # seconds
    hot: Spread  # clicked and replied
    hot_active: Spread  # clicked and replied, of active campaigns
    hot_finished: Spread  # of finished ones (their late replies)
    not_landed: int  # by the end of the tail (counted at their age then)
    duplicates: int
    hours: int  # in the window
    hours_silent: int  # events arrived, nothing landed in S3
    hours_no_call: int  # events arrived, no API call
    calls: int  # admitted in the window, every key
    list_calls: int  # of which campaign-list pages
    quota: int  # the keys' daily limits, for the window's length
    answers_429: int
    max_gap: float  # seconds, any campaign, between polls (the window's ends count)
    max_gap_active: float
    max_gap_inside: float  # of the gaps that opened during the window (no carry-in)
    keys_due_unserved: int  # (tick, key) pairs: something due, no call made
    keys_stopped: int  # (tick, key) pairs the run's deadline left out
    overruns: int  # ticks of the window that ended after the next was due
    backfilling: int  # campaigns still on their first sync when the window opened
    wall_seconds: float
    objects: ObjectFigures  # the export prefix at the end, per partition
    hot_ages: tuple[float, ...] = ()  # every clicked or replied event's staleness, seconds


def figures(outcome: Outcome) -> Figures:
    measured = outcome.measured()
    last = max([t.ended for t in outcome.ticks], default=outcome.end.timestamp())
    ages: list[float] = []
    hot: dict[bool, list[float]] = {True: [], False: []}  # by the campaign being active
    for arrival in measured:
        age = outcome.landed.get(arrival.key, last) - arrival.visible_at.timestamp()
        ages.append(age)
        if arrival.hot:
            hot[outcome.scenario.specs[arrival.campaign_id].active].append(age)
    start, end = outcome.start.timestamp(), outcome.end.timestamp()
    window = [c for c in outcome.calls if start <= c.at < end]
    hours = math.ceil((end - start) / HOUR)
    arrived = {_hour(a.visible_at.timestamp(), start) for a in measured}
    landed = {_hour(at, start) for at in outcome.landed.values() if start <= at < end}
    called = {_hour(c.at, start) for c in window if c.status != 429}
    gaps, gaps_active, gaps_inside = _poll_gaps(outcome)
    workload = outcome.workload
    return Figures(
        workload=workload.name,
        title=workload.title,
        policy=outcome.policy,
        seed=outcome.seed,
        all=Spread.of(ages),
        hot=Spread.of(hot[True] + hot[False]),
        hot_active=Spread.of(hot[True]),
        hot_finished=Spread.of(hot[False]),
        not_landed=sum(a.key not in outcome.landed for a in measured),
        duplicates=outcome.duplicates,
        hours=hours,
        hours_silent=len(arrived - landed),
        hours_no_call=len(arrived - called),
        calls=sum(c.status != 429 for c in window),
        list_calls=sum(c.status != 429 and c.campaign_id is None for c in window),
        quota=round(workload.daily_limit * workload.workspaces * (end - start) / 86_400),
        answers_429=sum(c.status == 429 for c in window),
        max_gap=gaps,
        max_gap_active=gaps_active,
        max_gap_inside=gaps_inside,
        keys_due_unserved=_due_unserved(outcome),
        keys_stopped=sum(
            w["status"] == "stopped" for t in _window_ticks(outcome) for w in t.workspaces
        ),
        overruns=sum(t.ended > t.scheduled + outcome.interval for t in _window_ticks(outcome)),
        backfilling=_backfilling_at_start(outcome),
        wall_seconds=outcome.wall_seconds,
        objects=object_figures(  # the window's last day is still open
            outcome.objects, outcome.start.date(), (outcome.end - timedelta(seconds=1)).date()
        ),
        hot_ages=tuple(hot[True] + hot[False]),
    )


def _poll_gaps(outcome: Outcome) -> tuple[float, float, float]:
    """Longest time any campaign (any active one) went unpolled in the window (a poll: the
    first page of a window, answered), counting from its last poll before the window and up
    to its end; and the longest of the gaps that opened inside the window."""
    start, end = outcome.start.timestamp(), outcome.end.timestamp()
    polls: dict[str, list[float]] = defaultdict(list)
    for call in outcome.calls:
        if call.campaign_id is not None and call.page == 1 and call.status == 200:
            polls[call.campaign_id].append(call.at)
    worst, worst_active, worst_inside = 0.0, 0.0, 0.0
    first = outcome.ticks[0].started if outcome.ticks else start
    for campaign_id, spec in outcome.scenario.specs.items():
        times = sorted(polls.get(campaign_id, []))
        before = [t for t in times if t <= start]
        points = [before[-1] if before else first] + [t for t in times if start < t < end]
        points.append(end)
        gaps = [(b - a, a) for a, b in zip(points, points[1:], strict=False)]
        gap = max(g for g, _ in gaps)
        worst = max(worst, gap)
        worst_inside = max([worst_inside] + [g for g, opened in gaps if opened >= start])
        if spec.active:
            worst_active = max(worst_active, gap)
    return worst, worst_active, worst_inside


def _window_ticks(outcome: Outcome) -> list[Tick]:
    start, end = outcome.start.timestamp(), outcome.end.timestamp()
    return [t for t in outcome.ticks if start <= t.scheduled < end]


def _due_unserved(outcome: Outcome) -> int:
    """Ticks where a key had a campaign due and the run made no call for it. Due: always for
    `greedy` (it polls everything every run); for `even`, when the previous run's earliest
    `next_due_at` falls before this tick plus half an interval (so a campaign due within half
    a run after the tick counts: `next_due_at` already holds the planner's slack)."""
    count, next_due = 0, dict[str, float | None]()
    for tick in outcome.ticks:
        in_window = outcome.start.timestamp() <= tick.scheduled < outcome.end.timestamp()
        for result in tick.workspaces:
            name = result["workspace"]
            due_at = next_due.get(name)
            due = (
                outcome.policy == "greedy"
                or due_at is None
                or due_at <= tick.scheduled + outcome.interval / 2
            )
            if in_window and due and result["api_calls"] == 0:
                count += 1
            nxt = result.get("next_due_at")
            next_due[name] = None if nxt is None else datetime.fromisoformat(nxt).timestamp()
    return count


def _backfilling_at_start(outcome: Outcome) -> int:
    ticks = _window_ticks(outcome)
    return sum(w["backfilling"] for w in ticks[0].workspaces) if ticks else 0


def _hour(at: float, start: float) -> int:
    return int((at - start) // HOUR)


def _rank(ordered: list[float], share: float) -> float:
    """Nearest rank: the smallest value with at least `share` of them at or below it."""
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]
