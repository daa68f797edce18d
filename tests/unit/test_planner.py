"""The poll planner on its own: allocation, bounds, order, the even spread of a day's budget,
and the size of what it stores."""

from __future__ import annotations

import json
import math
import random
import uuid
import zlib
from collections import Counter
from datetime import timedelta

import pytest

from leadlex_exporter.checkpoints import MAX_PLAN_BYTES
from leadlex_exporter.planner import (
    Budget,
    CampaignPlan,
    Found,
    PollPlanner,
    WorkspacePlan,
    allocate,
    quantile,
)
from tests.conftest import TABLE, run_exporter
from tests.fakes import make_events

KEY = "wbk_" + "b" * 52

RUN = 15 * 60.0
MAX = 6 * 3600.0
DAY = 86_400.0


def test_rates_follow_the_square_root_of_activity_within_the_bounds():
    weights = {"hot": 16.0, "warm": 4.0, "cold": 1.0}
    lo, hi = 1 / MAX, 1 / RUN
    budget = 2.5 / 3600  # 2.5 calls an hour for three campaigns

    rates, starved = allocate(weights, budget, lo, hi)

    assert not starved
    assert math.isclose(sum(rates.values()), budget, rel_tol=1e-6)
    assert rates["hot"] / rates["warm"] == pytest.approx(2.0, rel=1e-3)
    assert rates["warm"] / rates["cold"] == pytest.approx(2.0, rel=1e-3)


def test_the_wait_of_a_mixture_of_campaigns_is_read_exactly():
    # one campaign polled every hour: its events wait uniformly from 0 to 1 h
    assert quantile({"a": 1.0}, {"a": 1 / 3600}, 0.5) == pytest.approx(1800)
    assert quantile({"a": 1.0}, {"a": 1 / 3600}, 0.95) == pytest.approx(0.95 * 3600)
    # as many events in one polled every hour as in one every three: below 1 h the share
    # waiting less than x is x/2 + x/6, so half wait at most 45 min; 95% at most 2.7 h
    arrivals, rates = {"a": 1.0, "b": 1.0}, {"a": 1 / 3600, "b": 1 / 10_800}
    assert quantile(arrivals, rates, 0.5) == pytest.approx(2700)
    assert quantile(arrivals, rates, 0.95) == pytest.approx(0.9 * 10_800)


def test_the_allocation_aims_at_the_targets_of_notified_events():
    """Three active campaigns with most of the events, seven finished ones with a few late
    replies each: the square-root rule (least mean staleness) leaves the finished ones' replies
    past the p95 target; the planner gives up a little median for the tail."""
    lo, hi = 1 / (5.5 * 3600), 1 / RUN
    budget = 88 / DAY
    per_day = 1 / DAY
    active, finished = [f"a{i}" for i in range(3)], [f"f{i}" for i in range(7)]
    # weight: notified events plus a tenth of the others; hot: notified events a second
    weights = {c: (16 + 20) * per_day for c in active} | {c: 2.2 * per_day for c in finished}
    hot = {c: 16 * per_day for c in active} | {c: 2 * per_day for c in finished}

    def figures(rates: dict[str, float]) -> tuple[float, float]:
        return quantile(hot, rates, 0.5), quantile(hot, rates, 0.95)

    square_root, _ = allocate(weights, budget, lo, hi)
    uniform = dict.fromkeys(weights, budget / len(weights))
    rates, starved = allocate(weights, budget, lo, hi, hot=hot, targets=(3600, 10_800))

    assert not starved
    assert math.isclose(sum(rates.values()), budget, rel_tol=1e-6)
    assert figures(square_root)[1] > 10_800, "the square-root rule met the tail already"
    assert figures(uniform)[0] > 3600, "uniform polling met the median already"
    median, p95 = figures(rates)
    assert median <= 3600
    assert p95 <= 10_800
    assert min(rates[c] for c in active) > max(rates[c] for c in finished)


def test_with_no_notified_events_anywhere_the_square_root_rule_stays():
    weights = {"busy": 9.0, "quiet": 1.0}
    lo, hi = 1 / MAX, 1 / RUN
    hot = dict.fromkeys(weights, 0.25 / DAY)  # the prior only

    rates, _ = allocate(weights, 2 / 3600, lo, hi, hot=hot, targets=(3600, 10_800))

    assert rates["busy"] >= rates["quiet"]


def test_a_plan_written_before_the_notified_count_was_kept_is_read():
    entry = CampaignPlan.from_json([1.7e9, 1.7e9, 1.7e9, 1.7e9 + 900, 12.5, 1.7e9, 0])

    assert entry.score == 12.5
    assert entry.hot == 0.0
    assert CampaignPlan.from_json(entry.to_json()) == entry


def test_a_polls_pace_is_its_windows_events_over_the_window_not_the_history_read_with_it():
    entry = CampaignPlan(seen_at=0.0)
    entry.polled(0.0, 0.0, Found(100.0, 5.0), MAX)  # a first poll: no window before it
    assert entry.pace == 0.0

    # six hours later: 1,000 events, of which 60 in the window (the rest history, older)
    entry.polled(MAX, MAX, Found(1_000.0, 5.0), MAX, window=Found(60.0, 1.0))

    per_day = entry.pace * DAY
    assert 240.0 < per_day < 240.0 * 1.1  # 60 in 6 hours; the window's events decay a little
    assert CampaignPlan.from_json(json.loads(json.dumps(entry.to_json()))).pace == pytest.approx(
        entry.pace, rel=1e-3
    )


def test_the_maximum_keeps_a_call_for_each_second_page_an_active_campaign_will_take():
    # 20 campaigns polled at 00:00, 2 of them sending 600 events a day: 150 between polls
    # at the maximum, a second page at every one of their 3 polls left before the reset
    planner = PollPlanner(interval=RUN, max_interval=MAX)
    ids = [f"c{i:02}" for i in range(20)]
    plan = WorkspacePlan(listed_at=0.0)
    plan.track(ids, 0.0)
    for cid in ids:
        plan.campaigns[cid].polled(0.0, 0.0, Found(1.0, 0.0), MAX)
    for cid in ids[:2]:
        plan.campaigns[cid].pace = 600 / DAY
    budget = Budget.even(
        remaining=95 - 21, limit=100, floor=5, reset_at=DAY, now=RUN, interval=RUN, demand=21
    )

    need = planner.bound_need(plan, ids, budget, RUN)
    bare = planner.bound_need(plan, ids, budget, RUN, second_pages=False)

    assert bare == 20 * 3
    assert need - bare >= 2 * 3 + 3  # and the 5% margin, 3, for what paces do not foresee
    quiet = WorkspacePlan(listed_at=0.0, campaigns={c: plan.campaigns[c] for c in ids[2:]})
    assert planner.bound_need(quiet, ids[2:], budget, RUN) == 18 * 3 + math.ceil(0.05 * 54)


def test_a_quiet_campaign_is_never_polled_less_often_than_the_maximum_interval():
    weights = {f"quiet{i}": 1e-9 for i in range(9)} | {"hot": 1e6}
    lo, hi = 1 / MAX, 1 / RUN

    rates, starved = allocate(weights, 10 * lo + 1e-9, lo, hi)

    assert not starved
    assert all(rate >= lo * (1 - 1e-9) for rate in rates.values())
    assert rates["hot"] <= hi


def test_a_budget_too_small_for_the_maximum_interval_says_so():
    rates, starved = allocate({"a": 1.0, "b": 1.0}, 1 / MAX, 1 / MAX, 1 / RUN)

    assert starved
    assert sum(rates.values()) == pytest.approx(1 / MAX)


def test_when_the_budget_covers_everything_every_campaign_is_polled_at_every_run():
    planner = PollPlanner(interval=RUN, max_interval=MAX)
    ids = [f"c{i}" for i in range(20)]
    plan = WorkspacePlan()
    plan.track(ids, 0.0)
    now = 3600.0
    for _ in range(8):
        budget = Budget.even(
            remaining=10_000, limit=10_000, floor=1_000, reset_at=DAY, now=now,
            interval=RUN, demand=len(ids) + 1,
        )  # fmt: skip
        choice = planner.choose(plan, ids, budget, now, listing=True)
        assert budget.covers_all
        assert sorted(choice.poll) == sorted(ids)
        assert choice.list_campaigns
        for cid in choice.poll:
            plan.campaigns[cid].polled(now, now, Found(), choice.intervals[cid])
        plan.listed_at = now
        now += RUN


def test_a_run_right_after_the_last_has_nothing_due():
    planner = PollPlanner(interval=RUN, max_interval=MAX)
    plan = WorkspacePlan()
    plan.track(["a", "b"], 0.0)
    for entry in plan.campaigns.values():
        entry.polled(1000.0, 1000.0, Found(), RUN)
    plan.listed_at = 1000.0
    budget = Budget.even(
        remaining=50, limit=100, floor=10, reset_at=DAY, now=1060.0, interval=RUN, demand=3
    )
    assert not budget.covers_all

    choice = planner.choose(plan, ["a", "b"], budget, 1060.0, listing=True)

    assert choice.poll == []
    assert not choice.list_campaigns
    assert sorted(choice.deferred) == ["a", "b"]


def test_the_most_overdue_go_first_not_the_given_order():
    planner = PollPlanner(interval=RUN, max_interval=MAX)
    ids = [f"c{i}" for i in range(6)]
    plan = WorkspacePlan()
    plan.track(ids, 0.0)
    now = 10 * 3600.0
    # c5 was polled longest ago, c0 most recently; all are quiet, so all share one interval
    for age, cid in enumerate(ids):
        plan.campaigns[cid].polled(now - 7200.0 * (age + 1), None, Found(), MAX)
    budget = Budget(rate=1 / 3600, run_cap=2)

    choice = planner.choose(plan, ids, budget, now, listing=False)

    assert choice.poll == ["c5", "c4"]
    assert set(choice.deferred) == {"c0", "c1", "c2", "c3"}


def hour_end_plan(found_at: float | None) -> tuple[WorkspacePlan, float]:
    """Two campaigns at 07:45: `busy` (80 events counted, about 1.2 an hour over the counts'
    two-day half-life) polled at 06:30, `quiet` (none) at 02:00; the workspace's last find at
    `found_at`."""
    now = 7.75 * 3600
    plan = WorkspacePlan(found_at=found_at, listed_at=now)
    plan.track(["busy", "quiet"], 0.0)
    plan.campaigns["busy"].polled(6.5 * 3600, 6.5 * 3600, Found(80.0, 8.0), 3 * 3600)
    plan.campaigns["quiet"].polled(2 * 3600, 2 * 3600, Found(), MAX)
    return plan, now


def test_an_hour_about_to_pass_without_an_export_polls_the_busiest_campaign_early():
    planner = PollPlanner(interval=RUN, max_interval=MAX)
    budget = Budget(rate=6 / DAY, run_cap=2, left=30)  # every 8 h each: neither is due
    ids = ["busy", "quiet"]
    plan, now = hour_end_plan(found_at=6.5 * 3600)  # the last find: the hour before

    assert planner.choose(plan, ids, budget, now, listing=False).poll == ["busy"]
    # not when a run of the hour found events already
    found, _ = hour_end_plan(found_at=7 * 3600)
    assert planner.choose(found, ids, budget, now, listing=False).poll == []
    # nor before the hour's last run, nor with the quota above the floor spent
    assert planner.choose(plan, ids, budget, now - 1800, listing=False).poll == []
    spent = Budget(rate=6 / DAY, run_cap=2, left=0)
    assert planner.choose(plan, ids, spent, now, listing=False).poll == []
    # nor when the busiest is expected to hold less than an event
    quiet, _ = hour_end_plan(found_at=6.5 * 3600)
    quiet.campaigns["busy"].polled(7.5 * 3600, 7.5 * 3600, Found(), 3 * 3600)
    assert planner.choose(quiet, ids, budget, now, listing=False).poll == []


def test_a_plan_remembers_its_last_find():
    plan = WorkspacePlan(found_at=1.7e9)
    assert WorkspacePlan.from_json(json.loads(json.dumps(plan.to_json()))).found_at == 1.7e9
    assert WorkspacePlan.from_json({"v": 1, "campaigns": {}}).found_at is None


def test_a_starter_day_is_spread_evenly_and_active_campaigns_come_more_often():
    """96 runs of a 100-call day: every hour polls, the reserve stays, hot campaigns lead."""
    planner = PollPlanner(interval=RUN, max_interval=MAX)
    ids = [f"c{i}" for i in range(10)]
    active = {"c0", "c1", "c2"}
    plan = WorkspacePlan()
    plan.track(ids, 0.0)
    remaining, polls, hours, listed = 100, Counter[str](), Counter[int](), []
    for run in range(96):
        now = run * RUN
        budget = Budget.even(
            remaining=remaining, limit=100, floor=10, reset_at=DAY, now=now, interval=RUN,
            demand=len(ids) + 1,
        )  # fmt: skip
        choice = planner.choose(plan, ids, budget, now, listing=True)
        spent = len(choice.poll) + (plan.list_pages if choice.list_campaigns else 0)
        remaining -= spent
        hours[int(now // 3600)] += spent
        if choice.list_campaigns:
            plan.listed_at = now
            listed.append(now)
        for cid in choice.poll:
            found = Found(20.0, 2.0) if cid in active else Found()  # what its poll found
            plan.campaigns[cid].polled(now, now, found, choice.intervals[cid])
            polls[cid] += 1

    assert remaining >= 10, "the reserve was spent"
    assert remaining <= 20, "most of the day's budget was left unused"
    assert all(hours[h] > 0 for h in range(24)), f"hours without a poll: {hours}"
    assert min(polls[c] for c in active) > 2 * max(polls[c] for c in set(ids) - active)
    assert min(polls.values()) >= 4, "a quiet campaign waited more than the maximum interval"
    # the list at the maximum interval itself: a new campaign found within it, at 4 calls a day
    assert [b - a for a, b in zip(listed, listed[1:], strict=False)] == [MAX] * 3


def test_the_plan_of_two_thousand_campaigns_fits_its_item():
    plan = WorkspacePlan(listed_at=1.7e9, list_pages=20)
    plan.track((str(uuid.uuid4()) for _ in range(2_000)), 1.7e9)
    for entry in plan.campaigns.values():
        entry.polled(1.7e9 + 0.123, 1.7e9 - 0.456, Found(1234.5678, 12.5), 21_600.0)
        entry.backfilling = True

    blob = zlib.compress(json.dumps(plan.to_json(), separators=(",", ":")).encode(), 6)

    assert len(blob) < MAX_PLAN_BYTES
    again = WorkspacePlan.from_json(json.loads(zlib.decompress(blob)))
    assert again.campaigns.keys() == plan.campaigns.keys()
    assert isinstance(next(iter(again.campaigns.values())), CampaignPlan)


def test_with_a_starter_quota_a_run_with_nothing_due_makes_no_call(stack, api, clock):
    api.daily_limit = 100
    api.keys[KEY] = "acme"
    ids = [f"c{i}" for i in range(10)]
    api.campaigns["acme"] = [{"id": c, "status": "active"} for c in ids]
    for cid in ids:
        api.events[cid] = make_events(cid, 3, clock.now() - timedelta(hours=1), 60)
    stack.put_secret({"workspaces": [{"name": "acme", "api_key": KEY}]})
    first = run_exporter(stack, clock, api)["workspaces"][0]
    assert first["polled_campaigns"] == 10, "a first run polls every new campaign"

    clock.advance(minutes=15)
    api.calls.clear()
    second = run_exporter(stack, clock, api)["workspaces"][0]

    assert api.calls == []
    assert second["status"] == "ok"
    assert second["polled_campaigns"] == 0
    assert sorted(second["deferred_campaigns"]) == ids
    assert second["next_due_at"] is not None


def test_a_run_that_only_lists_the_campaigns_remembers_it(stack, api, clock):
    """A run whose only call is the campaign list keeps the time of it in the plan: the next
    run does not list again (it used to, since nothing else in the plan had changed)."""
    from leadlex_exporter.checkpoints import CheckpointStore

    api.daily_limit = 100
    api.keys[KEY] = "acme"
    ids = [f"c{i}" for i in range(10)]
    api.campaigns["acme"] = [{"id": c, "status": "active"} for c in ids]
    stack.put_secret({"workspaces": [{"name": "acme", "api_key": KEY}]})
    run_exporter(stack, clock, api)  # lists, and polls every new campaign
    clock.advance(minutes=15)
    # the list is due again (as if the last had been six hours ago); no campaign is
    store = CheckpointStore(stack.session.client("dynamodb"), TABLE)
    stored = store.load_plan("acme")
    stored.plan.listed_at = clock.now().timestamp() - 6 * 3600
    assert store.save_plan("acme", stored)
    api.calls.clear()
    run_exporter(stack, clock, api)
    assert [path.rsplit("/", 1)[-1] for path, _ in api.calls] == ["campaigns"]

    assert store.load_plan("acme").plan.listed_at == pytest.approx(clock.now().timestamp())
    clock.advance(minutes=15)
    api.calls.clear()
    run_exporter(stack, clock, api)
    assert api.calls == [], "the list was fetched again at the next run"


def pro_first_sync_day(
    planner: PollPlanner, second_page_every: int = 0
) -> tuple[dict[str, list[float]], int]:
    """A Pro key's first day: 200 campaigns, none polled yet, 20 of them active; 1,000 calls,
    the reserve 50, history's 100 spent at 00:00; every `second_page_every`-th poll of an
    active campaign takes a second page. Every campaign's poll times, and the calls left at
    the end."""
    ids = [f"c{i:03}" for i in range(200)]
    active = set(ids[:20])
    plan = WorkspacePlan(listed_at=0.0, list_pages=2)
    plan.track(ids, 0.0)
    remaining, polls = 900, {cid: [] for cid in ids}
    active_polls = 0
    for run in range(96):
        now = run * RUN
        budget = Budget.even(
            remaining=remaining, limit=1_000, floor=50, reset_at=DAY, now=now, interval=RUN,
            demand=len(ids) + 2,
        )  # fmt: skip
        choice = planner.choose(plan, ids, budget, now, listing=True)
        remaining -= len(choice.poll) + (plan.list_pages if choice.list_campaigns else 0)
        if choice.list_campaigns:
            plan.listed_at = now
        for cid in choice.poll:
            found = Found(20.0, 2.0) if cid in active else Found(0.2, 0.1)
            plan.campaigns[cid].polled(now, now, found, choice.intervals[cid])
            polls[cid].append(now)
            if cid in active and second_page_every:
                active_polls += 1
                remaining -= active_polls % second_page_every == 0
    return polls, remaining


@pytest.mark.parametrize("second_page_every", [0, 25])
def test_a_first_sync_of_many_campaigns_keeps_every_one_within_the_maximum_all_day(
    second_page_every,
):
    # Polled together at 00:00, 200 campaigns would all reach the maximum together, more
    # than runs can poll at the budget's pace: the first polls go out at the cap, and the
    # polls that the maximum needs go by deadline, earliest first. Some polls take a second
    # page the planner did not plan for: the day's calls still last to its end.
    planner = PollPlanner(interval=RUN, max_interval=MAX)
    polls, remaining = pro_first_sync_day(planner, second_page_every)

    assert remaining >= 50, "the reserve was spent"
    gaps = [
        b - a
        for times in polls.values()
        for a, b in zip([0.0, *times], [*times, DAY], strict=False)
    ]
    assert max(gaps) <= MAX, f"{sum(g > MAX for g in gaps)} gaps over the maximum"
    assert min(len(times) for times in polls.values()) >= 4


def test_new_campaigns_are_all_polled_at_once_when_the_budget_has_room_for_it():
    planner = PollPlanner(interval=RUN, max_interval=MAX)
    ids = [f"c{i}" for i in range(10)]
    plan = WorkspacePlan(listed_at=0.0)
    plan.track(ids, 0.0)
    starter = Budget.even(
        remaining=95, limit=100, floor=5, reset_at=DAY, now=0.0, interval=RUN, demand=11
    )
    assert starter.run_cap < len(ids)

    assert sorted(planner.choose(plan, ids, starter, 0.0, listing=False).poll) == sorted(ids)


def test_new_campaigns_beyond_a_run_go_out_a_runs_share_at_a_time_on_a_tight_budget():
    planner = PollPlanner(interval=RUN, max_interval=MAX)
    ids = [f"c{i:03}" for i in range(200)]
    plan = WorkspacePlan(listed_at=0.0, list_pages=2)
    plan.track(ids, 0.0)
    pro = Budget.even(
        remaining=900, limit=1_000, floor=50, reset_at=DAY, now=0.0, interval=RUN, demand=202
    )

    choice = planner.choose(plan, ids, pro, 0.0, listing=False)

    assert len(choice.poll) == math.ceil(pro.rate * RUN) < pro.run_cap


def starter_day(
    ids: list[str],
    active: int,
    start: float = 0.0,
    quiet_per_day: float = 4.0,
    active_per_day: float = 40.0,
) -> tuple[dict[str, list[float]], int]:
    """A Starter key deployed at `start`: `ids` never polled, the first `active` of them
    sending `active_per_day` events a day (a fifth of them clicks and replies), the others
    `quiet_per_day` (a quarter); 95 calls above the reserve until 00:00, the list refreshed
    by the planner. Every campaign's poll times, and the calls left above the reserve at the
    end."""
    planner = PollPlanner(interval=RUN, max_interval=MAX)
    rates = {
        c: (active_per_day, active_per_day / 5)
        if i < active
        else (quiet_per_day, quiet_per_day / 4)
        for i, c in enumerate(ids)
    }
    plan = WorkspacePlan()
    plan.track(ids, start)
    remaining, polls = 95, {cid: [] for cid in ids}
    now = start
    while now < DAY:
        budget = Budget.even(
            remaining=remaining, limit=100, floor=0, reset_at=DAY, now=now, interval=RUN,
            demand=len(ids) + 1,
        )  # fmt: skip
        choice = planner.choose(plan, ids, budget, now, listing=True)
        if choice.list_campaigns:
            remaining -= plan.list_pages
            plan.listed_at = now
        for cid in choice.poll:
            entry = plan.campaigns[cid]
            since = (now - entry.polled_at if entry.polled_at is not None else DAY) / DAY
            found = Found(rates[cid][0] * since, rates[cid][1] * since)
            entry.polled(now, now, found, choice.intervals[cid])
            polls[cid].append(now)
            remaining -= 1
        now += RUN
    return polls, remaining


def gaps_over(polls: dict[str, list[float]], start: float) -> list[float]:
    return [
        b - a
        for times in polls.values()
        for a, b in zip([start, *times], [*times, DAY], strict=False)
        if b - a > MAX
    ]


@pytest.mark.parametrize(
    ("campaigns", "active", "start", "seed"),
    [(20, 3, 0.0, 3), (20, 3, 0.0, 11), (15, 5, 0.0, 0), (15, 5, 2 * 3600.0, 934),
     (21, 4, 0.0, 328), (18, 1, 0.0, 982), (20, 3, 7 * 3600.0, 5)],
)  # fmt: skip
def test_a_starter_key_first_day_keeps_the_maximum_to_the_last_call(campaigns, active, start, seed):
    # 20 campaigns on 95 calls: 20 first polls, three more each and four lists fit, with
    # eleven calls to spare. Spent on active campaigns' extra polls and on quiet ones polled
    # inside the maximum, the spare ran out at 23:00 and the last campaigns went 6.5 h;
    # campaigns that reached the maximum together went past it when the list's refresh or
    # an active campaign's poll took a run's place.
    rng = random.Random(seed)
    ids = [f"cmp_{rng.getrandbits(48):012x}" for _ in range(campaigns)]

    polls, remaining = starter_day(ids, active, start)

    assert remaining >= 0, "the reserve was spent"
    over = gaps_over(polls, start)
    assert not over, f"{len(over)} gaps over the maximum, the longest {max(over) / 3600:.2f} h"


@pytest.mark.thorough
@pytest.mark.parametrize(
    "seed", [*range(40), *(pytest.param(s, marks=pytest.mark.slow) for s in range(40, 400))]
)
def test_any_starter_first_day_that_fits_the_maximum_keeps_it(seed):
    # 5 to 22 campaigns, 1 to 5 of them active, deployed at a random quarter hour: 22
    # campaigns polled every 6 h from 00:00 and the list take 92 of the 95 calls.
    rng = random.Random(seed)
    ids = [f"cmp_{rng.getrandbits(48):012x}" for _ in range(rng.randint(5, 22))]
    start = rng.choice([0.0, rng.randrange(96) * RUN])
    polls, remaining = starter_day(
        ids, rng.randint(1, 5), start, rng.uniform(1, 8), rng.uniform(10, 80)
    )

    assert remaining >= 0, "the reserve was spent"
    over = gaps_over(polls, start)
    assert not over, f"{len(over)} gaps over the maximum, the longest {max(over) / 3600:.2f} h"


def test_polls_the_maximum_does_not_need_wait_while_the_calls_left_only_cover_it():
    planner = PollPlanner(interval=RUN, max_interval=MAX)
    now = 21.5 * 3600
    ids = ["busy", "quiet", "later"]
    plan = WorkspacePlan(listed_at=now)
    plan.track(ids, 0.0)
    plan.campaigns["busy"].polled(18 * 3600, 18 * 3600, Found(40.0, 8.0), 1800)
    plan.campaigns["quiet"].polled(now - MAX + RUN / 2, now, Found(), MAX)
    plan.campaigns["later"].polled(17.5 * 3600, 17.5 * 3600, Found(), MAX)
    # until 00:00: `quiet` needs this poll, `later` one at 23:30, `busy` none, and a call is
    # kept for a poll's second page; `busy`'s poll now adds one, which three calls left cannot
    # cover and four can
    tight = Budget(rate=3 / (2.5 * 3600), run_cap=3, left=3)
    spare = Budget(rate=4 / (2.5 * 3600), run_cap=3, left=4)

    held = planner.choose(plan, ids, tight, now, listing=False).poll
    assert "quiet" in held
    assert "busy" not in held
    assert {"busy", "quiet"} <= set(planner.choose(plan, ids, spare, now, listing=False).poll)


def test_a_campaign_at_its_last_run_within_the_maximum_is_not_held_back_by_the_burst_cap():
    planner = PollPlanner(interval=RUN, max_interval=MAX)
    now = 12 * 3600.0
    ids = [f"c{i}" for i in range(4)]
    plan = WorkspacePlan(listed_at=now)
    plan.track(ids, 0.0)
    for cid in ids:  # all four past the maximum by the next run
        plan.campaigns[cid].polled(now - MAX + RUN / 2, now, Found(), MAX)
    budget = Budget(rate=12 / (12 * 3600), run_cap=2, left=12)

    assert sorted(planner.choose(plan, ids, budget, now, listing=False).poll) == ids
