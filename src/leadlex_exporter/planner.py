"""The poll planner: which campaigns of a workspace to poll this run, so that a key's daily quota
lasts the whole day and goes where events arrive.

What it optimises: the staleness of the events users react to (the notified types, `clicked`
and `replied`), as the issue's targets state it: the larger of (median / FRESHNESS_P50_MINUTES)
and (p95 / FRESHNESS_P95_MINUTES), predicted from each campaign's recent rate of such events,
under a hard bound on the tail of every campaign: it is polled at least every
`max_poll_interval`. Why both: the mean alone (the square-root rule) starves finished campaigns,
whose late replies then make the tail; the tail alone (uniform polling) leaves the active
campaigns' replies, most of them, waiting half a round.

- Budget. The calls left above the reserve are spread evenly over the time left until the
  reset: a rate `r` (calls per second), recomputed every run from the quota the API reports, so
  what one run leaves unspent goes to the later ones. Backfills keep their own share
  (quota.QuotaGuard.floor) and the rate follows what they leave.
- Allocation. Polling a campaign every T leaves its events uniformly 0 to T old. For a
  campaign whose events arrive at rate w, the total staleness sum(w_i * T_i / 2) under the
  budget sum(1 / T_i) = r is least when 1 / T_i is proportional to sqrt(w_i); the tail is least
  when all T_i are equal. The planner tries 1 / T_i proportional to w_i ** a for each a of
  EXPONENTS, each clamped between one poll per `max_poll_interval` (no campaign starves) and one
  per run (the schedule's rate) with the clamped rates still adding up to `r` (water-filling),
  predicts the median and p95 of the notified events' staleness for each (a mixture of uniform
  waits, weighted by each campaign's rate of them), and keeps the best. When the budget covers a
  poll of every campaign at every run, every run polls every campaign (and lists them), however
  soon after the last it comes.
- Activity. Two exponentially decayed counts of the events a campaign's polls found (half-life
  ACTIVITY_HALF_LIFE): every event, and the notified ones; each decayed by its own age, so a
  first sync's history counts for its last days only. `w` counts a notified event HOT_WEIGHT
  times an other; the prediction counts notified events only, plus HOT_PRIOR for every campaign
  (a finished one still gets the odd reply).
- Order. Due campaigns are polled most overdue first (time since the last poll over the
  campaign's interval), never in the API's order; a run polls at most about two runs' worth of
  the budget, so a backlog is caught up over several runs instead of at once.
- The campaign list costs calls too: it is refreshed like a campaign that gets LIST_SHARE of
  the budget, within the same bounds (at every run when the budget covers everything, at least
  every `max_poll_interval` otherwise: planned at that interval itself, since the list is one
  item and never waits in a backlog): a new campaign is found within that interval.
- The bound. Quiet campaigns are planned BOUND_SLACK_RUNS runs inside `max_poll_interval`, and a
  campaign past that goes before every other due one, so the bound holds when many come due at
  once. When the budget cannot afford that slack they are planned at the maximum itself. While
  the calls left until the reset cover every campaign at the maximum (`bound_need`: a poll
  every maximum interval from each campaign's last, the list's refreshes, a margin for second
  pages: what the campaigns' paces (events a second, as their last windows found them) fill
  beyond a page at that interval, and 5% for what those do not foresee; history leaves them to
  fresh polls:
  quota.QuotaGuard.floor), or fall short by what
  STRAIN_RUNS runs spend (or STRAIN_CALLS calls):
  - those calls are held back from polls the maximum does not need (_hold: an active
    campaign's extra poll, a quiet one inside the maximum, an early list refresh), so the
    day's last calls are there for the last campaigns' turns;
  - a campaign at its last run within the maximum is not held back by the burst cap;
  - polls ahead keep it when more campaigns reach it together than runs can poll (_ahead:
    earliest deadline first, counting the list's refreshes and a later run's lower pace), and
    a poll the maximum does not need now gives way to them.
- A first sync of many campaigns at once. On a budget tight for the maximum (fewer than
  SPREAD_BELOW rounds of every campaign per maximum interval) new campaigns go out a run's
  share of the budget at a time, so that they reach the maximum spread out, not together; and
  no campaign is polled early only to keep the spend even (_pace), since that costs a poll the
  maximum needs later.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# seconds: two days. A Starter day's 40 to 80 clicks and replies over 10 campaigns are too few
# to tell their rates apart; counted over about two days they are ranked better (24 simulated
# Starter days: p95 of clicks and replies within 3 h on 20 instead of 17), and a campaign that
# stops still loses half its weight in two days
ACTIVITY_HALF_LIFE = 48 * 3600.0
# poll rates follow activity to one of these powers: 0 is uniform polling (the least tail),
# 0.5 the least mean staleness; the planner takes the one its predicted figures like best
EXPONENTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
HOT_WEIGHT = 10.0  # a notified event (clicked, replied) against any other
IDLE_RATE = 1.0 / 86_400  # weight (notified events a second) assumed for a campaign that shows none
HOT_PRIOR = 0.25 / 86_400  # notified events a second any campaign may get (a late reply)
LIST_SHARE = 0.02  # of the poll budget, at most, for refreshing the campaign list
BOUND_SLACK_RUNS = 2  # runs inside the maximum interval that quiet campaigns are planned at
BURST_RUNS = 2.0  # a run polls at most this many runs' worth of the budget
# new campaigns beyond a run's cap are spread over runs when the budget covers fewer than this
# many rounds of every campaign per maximum interval
SPREAD_BELOW = 1.5
# the day's calls left may fall short of what the maximum needs by what this many runs spend
# at the budget's pace, and polls still go by its deadlines (beyond, the budget's even pace
# decides, and the shortfall stretches every campaign's interval)
STRAIN_RUNS = 2.0
STRAIN_CALLS = 2  # and by this many calls, whatever the pace
SECOND_PAGES = 0.05  # calls a poll takes beyond its first page, on average (kept for them)
PAGE_EVENTS = 100  # events a page holds (leadlex.PER_PAGE)
PAGE_SPREAD = 2.0  # the spread of a campaign's events between polls, against a Poisson count's
PACE_DIP = 0.9  # a later run's budget pace, at least, against this run's (for polls ahead)
HOUR_KEEP_EVENTS = 1.0  # events expected of a campaign to keep an hour from passing without export
ASSUMED_DAILY_LIMIT = 100  # until the API has told the plan (the smallest, Starter)
_LN2 = math.log(2)


@dataclass
class CampaignPlan:
    """What the planner remembers of one campaign (Unix seconds)."""

    seen_at: float  # first listed or configured
    polled_at: float | None = None  # the run that last polled it up to its window end
    watermark: float | None = None  # the end of its last polled window
    due_at: float | None = None
    score: float = 0.0  # decayed count of every event, as of score_at
    score_at: float | None = None
    backfilling: bool = False  # its first sync's history is not read yet
    hot: float = 0.0  # decayed count of the notified events, as of score_at
    pace: float = 0.0  # events a second its last poll found over its window (not history)

    def rates(self, now: float) -> Found:
        """Events a second (every one, and the notified ones), as the decayed counts say."""
        if self.score_at is None:
            return Found()
        age = now - self.score_at
        per_second = _LN2 / ACTIVITY_HALF_LIFE
        return Found(_decayed(self.score, age) * per_second, _decayed(self.hot, age) * per_second)

    def polled(
        self,
        now: float,
        watermark: float | None,
        found: Found,
        interval: float,
        window: Found | None = None,
    ) -> None:
        """A poll up to the window end `now` found `found` (see `activity`), of which `window`
        in its fresh window (all of `found` when not given: no history read with it)."""
        age = 0.0 if self.score_at is None else now - self.score_at
        since = self.watermark if self.watermark is not None else self.polled_at
        if since is not None and now > since:
            # the window's events, each decayed by its age, over the window's decayed length
            span = ACTIVITY_HALF_LIFE / _LN2 * (1.0 - _decayed(1.0, now - since))
            self.pace = (found if window is None else window).events / span
        self.score = _decayed(self.score, age) + found.events
        self.hot = _decayed(self.hot, age) + found.hot
        self.score_at = now
        self.polled_at, self.watermark, self.due_at = now, watermark, now + interval

    def to_json(self) -> list[Any]:
        return [
            _round(self.seen_at),
            _round(self.polled_at),
            _round(self.watermark),
            _round(self.due_at),
            round(self.score, 3),
            _round(self.score_at),
            int(self.backfilling),
            round(self.hot, 3),
            float(f"{self.pace:.4g}"),
        ]

    @classmethod
    def from_json(cls, data: list[Any]) -> CampaignPlan:
        seen, polled, watermark, due, score, score_at, backfilling, *rest = data
        hot = float(rest[0]) if rest else 0.0  # plans written before the count was kept
        pace = float(rest[1]) if len(rest) > 1 else 0.0  # and before the pace was
        return cls(
            seen, polled, watermark, due, float(score), score_at, bool(backfilling), hot, pace
        )


@dataclass(frozen=True)
class Found:
    """Events of a campaign: every one, and the notified ones (counts, or rates)."""

    events: float = 0.0
    hot: float = 0.0

    def __add__(self, other: Found) -> Found:
        return Found(self.events + other.events, self.hot + other.hot)


@dataclass
class WorkspacePlan:
    """The planner's memory of one workspace: its campaigns, when it was last listed, and the
    last run whose polls found new events."""

    campaigns: dict[str, CampaignPlan] = field(default_factory=dict)
    listed_at: float | None = None
    list_pages: int = 1
    found_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "v": 1,
            "listed_at": _round(self.listed_at),
            "list_pages": self.list_pages,
            "found_at": _round(self.found_at),
            "campaigns": {cid: plan.to_json() for cid, plan in self.campaigns.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> WorkspacePlan:
        if not data:
            return cls()
        return cls(
            campaigns={
                cid: CampaignPlan.from_json(v) for cid, v in data.get("campaigns", {}).items()
            },
            listed_at=data.get("listed_at"),
            list_pages=int(data.get("list_pages") or 1),
            found_at=data.get("found_at"),
        )

    def track(self, campaign_ids: Iterable[str], now: float) -> None:
        """The campaigns the workspace has now: new ones are added, gone ones forgotten."""
        current = dict.fromkeys(campaign_ids)
        self.campaigns = {
            cid: self.campaigns.get(cid) or CampaignPlan(seen_at=now) for cid in current
        }


@dataclass(frozen=True)
class Budget:
    """What a run may spend on fresh polls: `rate` calls a second from now to the reset."""

    rate: float
    run_cap: int  # calls this run, at most (burst and the quota above the reserve)
    covers_all: bool = False  # every campaign (and the list) at every run
    left: int | None = None  # calls above the floor for this workspace (None: run_cap)

    @classmethod
    def even(
        cls,
        *,
        remaining: int | None,
        limit: int | None,
        floor: int,
        reset_at: float | None,
        now: float,
        interval: float,
        share: float = 1.0,
        demand: int = 0,
    ) -> Budget:
        """The calls above `floor` spread evenly until `reset_at` (the next 00:00 UTC when the
        API has not said); `share` of it for this workspace when a key serves several.
        `demand` is what one run of polling everything costs."""
        limit = limit or ASSUMED_DAILY_LIMIT
        left = max(0, (limit if remaining is None else remaining) - floor)
        if reset_at is None or reset_at <= now:
            reset_at = (math.floor(now / 86_400) + 1) * 86_400.0
        rate = left * share / max(reset_at - now, interval)
        runs = max(1.0, (reset_at - now) / interval)
        covers = demand > 0 and demand * math.ceil(runs) <= left * share
        cap = max(1, math.ceil(BURST_RUNS * rate * interval))
        if covers:
            cap = max(cap, demand)
        return cls(
            rate=rate,
            run_cap=min(cap, int(left * share)),
            covers_all=covers,
            left=int(left * share),
        )


@dataclass
class Choice:
    """One run's plan for a workspace."""

    poll: list[str]  # most overdue first
    deferred: list[str]  # known campaigns not polled this run
    list_campaigns: bool
    intervals: dict[str, float]  # seconds between polls, per campaign
    list_interval: float
    starved: bool = False  # the budget cannot poll every campaign within max_poll_interval
    bound_calls: int = 0  # the polls the rest of the day needs for max_poll_interval


class PollPlanner:
    def __init__(
        self,
        *,
        interval: float,
        max_interval: float,
        greedy: bool = False,
        targets: tuple[float, float] = (3600.0, 3 * 3600.0),
    ):
        self.interval = interval
        self.max_interval = max(max_interval, interval)
        self.greedy = greedy
        self.targets = targets  # seconds: the notified events' median and p95 staleness

    def choose(
        self,
        plan: WorkspacePlan,
        campaign_ids: Sequence[str],
        budget: Budget,
        now: float,
        listing: bool,
        listed: bool = False,
    ) -> Choice:
        """Which of `campaign_ids` to poll now, and whether to refresh the list (`listing`:
        the workspace is exported from the list, not from a configured set; `listed`: it is,
        and this run has refreshed it already, so only its later refreshes count)."""
        if self.greedy:
            return Choice(list(campaign_ids), [], listing, {}, self.interval)
        listed = listed and not listing
        listing, refresh = listing or listed, listing
        # Planned a little inside the maximum interval: a backlog of campaigns due at once
        # drains over a few runs, and the bound must still hold for the last of them.
        lo, hi = 1.0 / self.bound, 1.0 / self.interval
        list_cost = plan.list_pages if listing else 0
        if budget.covers_all:
            list_rate = hi if listing else 0.0
            rates = dict.fromkeys(campaign_ids, hi)
            spend = budget.rate
        else:
            # the list is one item, never part of a backlog: planned at the maximum itself
            list_lo = 1.0 / self.max_interval
            list_rate = _clamp(LIST_SHARE * budget.rate / max(1, list_cost), list_lo, hi)
            list_rate = list_rate if listing else 0.0
            weights, hot = _weights(plan, campaign_ids, now)
            spend = budget.rate - list_rate * list_cost
            if len(campaign_ids) * lo > spend:  # the bound's slack is out of reach: plan at
                lo = 1.0 / self.max_interval  # the maximum itself, polls ahead keep it (_ahead)
            rates, _ = allocate(weights, spend, lo, hi, hot=hot, targets=self.targets)
        intervals = {cid: 1.0 / rate for cid, rate in rates.items()}
        list_interval = 1.0 / list_rate if list_rate else math.inf
        known = plan.campaigns
        need = self.bound_need(plan, campaign_ids, budget, now, list_cost)
        bare = self.bound_need(plan, campaign_ids, budget, now, list_cost, second_pages=False)
        starved = not budget.covers_all and (
            bare > budget.left
            if budget.left is not None
            else budget.rate * self.max_interval < len(campaign_ids)
        )
        # the maximum within reach, or short by what a few runs spend (a poll's second page,
        # a history call): polls go by its deadlines, and a shortfall costs the day's last
        # runs, not the even pace's intervals for every campaign all day
        short = max(STRAIN_RUNS * budget.rate * self.interval, STRAIN_CALLS)
        bounded = not budget.covers_all and (
            bare <= budget.left + short if budget.left is not None else not starved
        )
        # a refresh inside the maximum adds to what the rest of the day needs (`_adds`): only
        # while the calls above that need cover it
        list_adds = list_cost * self._adds(plan.listed_at, budget, now)
        list_due = (
            refresh
            and (
                budget.covers_all
                or plan.listed_at is None
                or now >= plan.listed_at + list_interval - self.interval / 2
            )
            and (budget.left is None or budget.left >= list_cost)
            and (budget.covers_all or list_adds <= 0 or (budget.left or 0) - need >= list_adds)
        )
        if list_due and not budget.covers_all:
            need += max(0, list_adds)
        cap = budget.run_cap - (list_cost if list_due else 0)
        if budget.covers_all:  # every run is due for every campaign, however early it comes
            due = list(campaign_ids)
        else:
            # past the planned bound is due whatever the interval, while the day's calls
            # left cover the maximum (late in the day, the budget's rate can plan intervals
            # past the maximum that a poll each before the reset fits)
            due = [
                c
                for c in campaign_ids
                if self._due(known.get(c), intervals[c], now)
                or (bounded and self._urgent(known.get(c), now))
            ]
        due.sort(
            key=lambda c: (
                not self._urgent(known.get(c), now),
                -self._overdue(known.get(c), intervals[c], now),
                _tie(c),
            )
        )
        # A campaign never polled yet is not held back by the burst cap, only by the quota: a
        # new campaign should not wait runs for its start. Unless there are more than a run's
        # share of the budget and the budget is tight for the maximum interval (a first sync
        # of 200 on Pro is a fifth of its day): they go first, a run's share at a time, so
        # that their next polls come due spread out as the budget can take them, not at once.
        new = [c for c in due if known.get(c) is None or known[c].polled_at is None]
        ranked = [c for c in due if c not in set(new)]
        room = (budget.run_cap if budget.left is None else budget.left) - (budget.run_cap - cap)
        new = new[: max(0, room)]
        tight = spend * self.max_interval < SPREAD_BELOW * len(campaign_ids)
        pace = max(1, math.ceil(budget.rate * self.interval))  # a run's share of the budget
        if not budget.covers_all and tight and len(new) > pace:
            new = new[:pace]
            poll = new + ranked[: max(0, min(cap, room) - len(new))]
        else:
            poll = new + ranked[: max(0, min(cap, room - len(new)))]
        if bounded:  # the burst cap does not hold back a
            # campaign whose last run within the maximum this is: the quota's calls left,
            # which cover the maximum for every campaign, do
            chosen = set(poll)
            last = [c for c in ranked if c not in chosen and self._last_chance(known[c], now)]
            poll += last[: max(0, room - len(poll))]
        if not tight:  # a poll ahead restarts a campaign's interval: on a tight budget it
            # costs a poll the maximum interval needs later in the day
            most = min(cap, room)
            poll += self._pace(plan, campaign_ids, intervals, budget, now, len(poll), most)
        poll += self._keep_hour(plan, campaign_ids, poll, budget, now, room)
        if bounded:
            held = (budget, now, need)
            poll = self._hold(plan, poll, *held)
            lists = (list_interval, list_cost, now if list_due else plan.listed_at)
            # polls the maximum does not need now (not past the planned bound, not a first)
            # give way to those it does: earliest deadline first
            fixed = [c for c in poll if c in new or self._urgent(known.get(c), now)]
            spare = [c for c in poll if c not in set(fixed)]
            most = max(min(cap, room), len(poll))
            # a later run's most: its budget's pace can dip as the day goes (PACE_DIP)
            later = max(1, math.ceil(BURST_RUNS * budget.rate * self.interval * PACE_DIP))
            later = min(later, budget.run_cap)
            ahead = self._ahead(plan, campaign_ids, fixed, later, now, most - len(fixed), lists)
            rest = [c for c in spare if c not in set(ahead)]
            keep = max(len(poll), len(fixed) + len(ahead)) - len(fixed) - len(ahead)
            poll = self._hold(plan, fixed + ahead + rest[:keep], *held)
        chosen = set(poll)
        deferred = [cid for cid in campaign_ids if cid not in chosen]
        return Choice(poll, deferred, list_due, intervals, list_interval, starved, need)

    def _pace(
        self,
        plan: WorkspacePlan,
        campaign_ids: Sequence[str],
        intervals: dict[str, float],
        budget: Budget,
        now: float,
        chosen: int,
        cap: int,
    ) -> list[str]:
        """Early polls that keep the spend even: when fewer calls are due than the budget's
        pace has earned since the workspace's last poll, the campaigns nearest to due (at least
        half their interval past) go early. Without it, campaigns first polled together come
        due together, and the hours between their rounds go without a poll."""
        polled = [p.polled_at for p in plan.campaigns.values() if p.polled_at is not None]
        if not polled or budget.covers_all:
            return []
        owed = min(cap, math.floor((now - max(polled)) * budget.rate)) - chosen
        if owed <= 0:
            return []
        known = plan.campaigns
        ready = [
            (self._overdue(known.get(c), intervals[c], now), c)
            for c in campaign_ids
            if known.get(c) is not None
            and known[c].polled_at is not None
            and not self._due(known.get(c), intervals[c], now)
        ]
        ready = [(ratio, c) for ratio, c in ready if ratio >= 0.5]
        ready.sort(key=lambda item: (-item[0], _tie(item[1])))
        return [c for _, c in ready[:owed]]

    def bound_need(
        self,
        plan: WorkspacePlan,
        campaign_ids: Sequence[str],
        budget: Budget,
        now: float,
        list_pages: int = 0,
        second_pages: bool = True,
    ) -> int:
        """The calls the rest of the day needs to keep every campaign within the maximum
        interval: each a poll every `max_interval` from its last (and a first one, if it has
        none) until the reset; for polls that take a second page, the pages the campaigns'
        rates of events fill beyond the first at that interval (`_more_pages`) and SECOND_PAGES
        more for what those do not foresee (neither when `second_pages` is false); and as many
        refreshes of the list (`list_pages` each); the first after the reset is on the next
        day's quota. 0 when the reset is unknown. (The plan's bound, two runs inside the
        maximum, may be out of reach when this is not.)"""
        if not budget.left or budget.rate <= 0:
            return 0
        reset = now + budget.left / budget.rate
        lasts = [
            entry.polled_at if (entry := plan.campaigns.get(cid)) is not None else None
            for cid in campaign_ids
        ]
        rounds = [
            self._rounds(reset, now if last is None else last) - (last is not None)
            for last in lasts
        ]
        need = sum(rounds)
        if second_pages:  # what the campaigns' paces fill, and SECOND_PAGES for the rest
            pages = sum(
                polls * self._more_pages(plan.campaigns.get(cid), now)
                for cid, polls in zip(campaign_ids, rounds, strict=True)
            )
            need += math.ceil(SECOND_PAGES * need + pages - 1e-9)
        if list_pages:
            listed = plan.listed_at
            need += list_pages * (
                self._rounds(reset, now if listed is None else listed) - (listed is not None)
            )
        return need

    def _more_pages(self, campaign: CampaignPlan | None, now: float) -> float:
        """The pages beyond its first a poll of a campaign takes at the maximum interval, by
        its rate of events: an active campaign held to the maximum (a budget at the edge of it)
        gathers more than a page between polls. The count between polls is taken as normal
        around the rate's, with PAGE_SPREAD times a Poisson count's spread (events come in
        bursts, busier by day): the expected number of the multiples of PAGE_EVENTS it
        exceeds."""
        if campaign is None:
            return 0.0
        # the decayed count ramps up over a first day whose history is not read yet; its
        # last window's pace does not
        mean = max(campaign.rates(now).events, campaign.pace) * self.max_interval
        if mean <= 0:
            return 0.0
        spread = PAGE_SPREAD * math.sqrt(mean)
        pages, full = 0.0, PAGE_EVENTS
        while full <= mean + 6 * spread:
            pages += 0.5 * math.erfc((full - mean) / (spread * math.sqrt(2)))
            full += PAGE_EVENTS
        return pages

    def _hold(
        self,
        plan: WorkspacePlan,
        poll: list[str],
        budget: Budget,
        now: float,
        need: int,
    ) -> list[str]:
        """Holds back the calls the maximum interval needs until the reset (`bound_need`, and
        the list's refreshes at the maximum) from polls it does not need: a poll that keeps
        what the rest of the day needs the same (a campaign at its maximum, a first poll) always
        goes; one that adds a call to it (an active campaign's extra poll, a quiet one polled
        inside the maximum) only while the calls left above what the maximum needs cover it.
        Without it, the day's last calls can run out before the last campaigns' turns."""
        if not budget.left or budget.rate <= 0:
            return poll
        slack = budget.left - need
        kept = []
        for cid in poll:
            entry = plan.campaigns.get(cid)
            adds = self._adds(entry.polled_at if entry is not None else None, budget, now)
            if adds <= 0 or slack >= adds:
                kept.append(cid)
                slack -= max(0, adds)
        return kept

    def _adds(self, last: float | None, budget: Budget, now: float) -> int:
        """What a poll now adds to the polls the maximum needs until the reset, counting the
        poll itself: 0 for one at the maximum or a first one, 1 for one inside the maximum
        (its interval restarts early)."""
        if not budget.left or budget.rate <= 0:
            return 0
        reset = now + budget.left / budget.rate
        before = self._rounds(reset, now) if last is None else self._rounds(reset, last) - 1
        return self._rounds(reset, now) - before

    def _rounds(self, reset: float, last: float) -> int:
        """Polls at the maximum interval from `last` that fall before the reset, counting the
        first one after it."""
        return max(1, math.ceil((reset - last) / self.max_interval - 1e-9))

    def _ahead(
        self,
        plan: WorkspacePlan,
        campaign_ids: Sequence[str],
        poll: list[str],
        cap: int,
        now: float,
        room: int,
        lists: tuple[float, int, float | None] = (math.inf, 0, None),
    ) -> list[str]:
        """Polls ahead of their turn that keep every campaign within `max_interval` when many
        come to it at once (a first sync polls every campaign in one run; 200 of them then
        reach the maximum together): earliest deadline first, the j-th deadline needs j polls
        by then, and the runs before it bring `cap` each (a run's most), less the list's pages
        when a refresh of it falls due (`lists`: its interval, pages and last refresh); what
        they cannot bring goes now. Quiet otherwise: a poll ahead restarts its campaign's
        interval, so it costs a call later in the day. Only when the day's calls left cover
        every campaign at the maximum until the reset: else polls ahead would spend the day
        early."""
        pace = cap  # calls a run, at most
        if room <= 0 or pace <= 0:
            return []
        chosen = set(poll)
        known = plan.campaigns
        deadlines = sorted(
            (entry.polled_at + self.max_interval, _tie(cid), cid)
            for cid in campaign_ids
            if cid not in chosen
            and (entry := known.get(cid)) is not None
            and entry.polled_at is not None
        )
        late = 0
        for count, (deadline, _, _) in enumerate(deadlines, start=1):
            # the runs after this one that start by the deadline (at the edge of the budget,
            # the maximum holds to the run: a gap of exactly max_interval)
            runs = max(0, math.floor((deadline - now) / self.interval + 1e-9))
            listing = self._lists(lists, now, deadline)
            late = max(late, math.ceil(count - runs * pace + listing - 1e-9))
        return [cid for _, _, cid in deadlines[: min(late, room)]]

    def _lists(self, lists: tuple[float, int, float | None], now: float, until: float) -> int:
        """The list's pages due in the runs after `now` up to `until`."""
        interval, cost, last = lists
        if not cost or last is None or not math.isfinite(interval):
            return 0
        start = last + interval - self.interval / 2  # when list_due next holds
        start = max(start, now + self.interval / 2)  # in a run after this one
        if start > until:
            return 0
        return cost * (math.floor((until - start) / interval + 1e-9) + 1)

    def _keep_hour(
        self,
        plan: WorkspacePlan,
        campaign_ids: Sequence[str],
        poll: list[str],
        budget: Budget,
        now: float,
        room: int,
    ) -> list[str]:
        """No clock hour without an export while events arrive: at the hour's last run, when
        no run of the hour has found a new event and no campaign chosen now is expected to
        (fewer than one event expected since its last window), the campaign with the most
        expected goes too, if it expects one or more. One call, early: the budget's pace takes
        it back from the rest of the day."""
        hour = math.floor(now / 3600) * 3600
        if budget.covers_all or now + self.interval < hour + 3600 or len(poll) >= room:
            return []
        if plan.found_at is not None and plan.found_at >= hour:
            return []
        expected = {c: _expected(plan.campaigns.get(c), now) for c in campaign_ids}
        if any(expected[c] >= HOUR_KEEP_EVENTS for c in poll):
            return []
        chosen = set(poll)
        rest = [c for c in campaign_ids if c not in chosen]
        best = max(rest, key=lambda c: (expected[c], _tie(c)), default=None)
        return [best] if best is not None and expected[best] >= HOUR_KEEP_EVENTS else []

    def _due(self, campaign: CampaignPlan | None, interval: float, now: float) -> bool:
        if campaign is None or campaign.polled_at is None:
            return True
        return now >= campaign.polled_at + interval - self.interval / 2

    @property
    def bound(self) -> float:
        """The interval the maximum is planned at: BOUND_SLACK_RUNS runs inside it."""
        return max(self.interval, self.max_interval - BOUND_SLACK_RUNS * self.interval)

    def _last_chance(self, campaign: CampaignPlan, now: float) -> bool:
        """The next run would find it past the maximum interval."""
        return campaign.polled_at is not None and (
            now + self.interval > campaign.polled_at + self.max_interval + 1e-6
        )

    def _urgent(self, campaign: CampaignPlan | None, now: float) -> bool:
        """Past the planned bound: it goes before any campaign that is merely overdue."""
        return (
            campaign is not None
            and campaign.polled_at is not None
            and now - campaign.polled_at >= self.bound - self.interval / 2
        )

    def due_at(self, campaign: CampaignPlan, interval: float) -> float | None:
        """When a campaign is next due, by this run's interval for it."""
        if campaign.polled_at is None:
            return None
        return campaign.polled_at + interval - self.interval / 2

    def _overdue(self, campaign: CampaignPlan | None, interval: float, now: float) -> float:
        """Time since the last poll over the campaign's interval; a new campaign counts as
        just due, and more so with every run it waits."""
        if campaign is None:
            return 1.0
        if campaign.polled_at is None:
            return 1.0 + max(0.0, now - campaign.seen_at) / self.interval
        return (now - campaign.polled_at) / interval


def allocate(
    weights: dict[str, float],
    budget: float,
    lo: float,
    hi: float,
    *,
    hot: dict[str, float] | None = None,
    targets: tuple[float, float] = (3600.0, 3 * 3600.0),
) -> tuple[dict[str, float], bool]:
    """Poll rates adding up to `budget`, each within [lo, hi] (or every rate at `hi` when the
    budget is larger): proportional to weight ** a, for the a of EXPONENTS whose predicted
    staleness of notified events (arriving at `hot`, per campaign) is best against `targets`
    (median, p95): the larger of the two over its target is least. a = 0.5 without `hot`.
    When even `lo` for all does not fit, the budget is shared equally and the result says so
    (starved)."""
    if not weights:
        return {}, False
    count = len(weights)
    if count * hi <= budget:
        return dict.fromkeys(weights, hi), False
    if count * lo >= budget:
        return dict.fromkeys(weights, max(budget, 0.0) / count or lo / 1e6), True
    if hot is None:
        return _fill(weights, budget, lo, hi, 0.5), False
    tried = []  # (score, exponent, rates)
    for exponent in EXPONENTS:
        rates = _fill(weights, budget, lo, hi, exponent)
        median = quantile(hot, rates, 0.5) / targets[0]
        tail = quantile(hot, rates, 0.95) / targets[1]
        tried.append((max(median, tail), exponent, rates))
    return min(tried, key=lambda item: (item[0], item[1]))[2], False


def _fill(
    weights: dict[str, float], budget: float, lo: float, hi: float, exponent: float
) -> dict[str, float]:
    """Rates proportional to weight ** exponent, clamped to [lo, hi], adding up to `budget`."""
    roots = {cid: w**exponent for cid, w in weights.items()}
    low, high = 0.0, hi / min(roots.values())
    for _ in range(50):  # bisection on the multiplier: the sum rises with it
        mid = (low + high) / 2
        if sum(_clamp(mid * r, lo, hi) for r in roots.values()) < budget:
            low = mid
        else:
            high = mid
    return {cid: _clamp(high * r, lo, hi) for cid, r in roots.items()}


def quantile(arrivals: dict[str, float], rates: dict[str, float], share: float) -> float:
    """The `share` quantile of the wait of events arriving at `arrivals` (per campaign) when
    each campaign is polled every 1 / rate: a mixture of uniform waits on [0, 1 / rate]."""
    items = sorted((1.0 / rates[cid], weight) for cid, weight in arrivals.items())
    wanted = share * sum(weight for _, weight in items)
    done, slope = 0.0, sum(weight / period for period, weight in items)
    for period, weight in items:  # below `period`, the mixture's CDF is done + slope * x
        if slope <= 0 or done + slope * period >= wanted:
            return period if slope <= 0 else max(0.0, (wanted - done) / slope)
        done += weight
        slope -= weight / period
    return items[-1][0] if items else 0.0


def activity(
    records: Iterable[tuple[str | None, datetime | None]], now: datetime, hot: frozenset[str]
) -> Found:
    """The age-decayed counts of a page's events (type, instant) as of `now`: every one, and
    the `hot` (notified) ones."""
    events = notified = 0.0
    end = now.timestamp()
    for kind, instant in records:
        if instant is None:
            continue
        age = end - instant.timestamp()
        if age > 4 * ACTIVITY_HALF_LIFE:
            continue
        events += _decayed(1.0, age)
        if kind in hot:
            notified += _decayed(1.0, age)
    return Found(events, notified)


def _decayed(value: float, age: float) -> float:
    return float(value * 0.5 ** (max(0.0, age) / ACTIVITY_HALF_LIFE))


def _weights(
    plan: WorkspacePlan, campaign_ids: Sequence[str], now: float
) -> tuple[dict[str, float], dict[str, float]]:
    """Per campaign: the weight its poll rate follows, and the notified events a second it is
    expected to get."""
    weights, hot = {}, {}
    for cid in campaign_ids:
        known = plan.campaigns.get(cid)
        rates = known.rates(now) if known is not None else Found()
        weights[cid] = rates.hot + (rates.events - rates.hot) / HOT_WEIGHT + IDLE_RATE
        hot[cid] = rates.hot + HOT_PRIOR
    return weights, hot


def _expected(campaign: CampaignPlan | None, now: float) -> float:
    """Events a campaign is expected to hold since the end of its last polled window."""
    if campaign is None or campaign.polled_at is None:
        return 0.0
    since = campaign.watermark if campaign.watermark is not None else campaign.polled_at
    return campaign.rates(now).events * max(0.0, now - since)


def _clamp(value: float, lo: float, hi: float) -> float:
    return min(hi, max(lo, value))


def _tie(campaign_id: str) -> bytes:
    """A stable order among equals that is not the API's."""
    return hashlib.blake2b(campaign_id.encode(), digest_size=8).digest()


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
