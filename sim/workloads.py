"""The issue's four workloads, and the sandbox world each one starts from.

Time line (D is the measured UTC day): active campaigns started sending between D-28 and D-7, so
they are in their steady state (new contacts on step 1, earlier ones on steps 2 and 3) when the
simulation starts at D-1 00:00; finished campaigns sent from D-14 to D-11 and get late events
since. First syncs read the last BACKFILL_DAYS of history (sim/day.py). D-1 is the warm-up day
(first syncs, the planner learning which campaigns are active); its figures are not reported.
D is measured; the ticks go on past D's end until what arrived during D has landed (at most
TAIL).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from leadlex_sandbox.models import PLAN_LIMITS
from leadlex_sandbox.world import World

from sim.activity import Arrival, CampaignSpec, arrivals

DAY = timedelta(days=1)
TAIL = timedelta(hours=12)
ACTIVE_CONTACTS_PER_DAY = (15.0, 50.0)  # new contacts a day of an active campaign (uniform)
ACTIVE_SINCE_DAYS = (7.0, 28.0)  # how long before D an active campaign started (uniform)
FINISHED_CONTACTS_PER_DAY = (1.0, 4.0)
LATE_EVENTS_PER_DAY = (2.0, 6.0)  # what a finished campaign still gets


@dataclass(frozen=True)
class Workload:
    name: str
    plan: str
    workspaces: int
    campaigns: int  # per workspace
    active: int  # per workspace

    @property
    def daily_limit(self) -> int:
        return PLAN_LIMITS[self.plan][0]

    @property
    def title(self) -> str:
        spaces = f"{self.workspaces} workspaces x " if self.workspaces > 1 else ""
        return f"{self.plan.title()}, {spaces}{self.campaigns} campaigns, {self.active} active"


WORKLOADS = {
    "starter": Workload("starter", "starter", 1, 10, 3),
    "pro": Workload("pro", "pro", 1, 200, 20),
    "org": Workload("org", "org", 1, 2000, 100),
    "agency": Workload("agency", "starter", 50, 20, 3),
}


@dataclass
class Scenario:
    """The world as the simulation starts, and every event it will see."""

    secret: list[dict[str, str]]  # the API-key secret's workspaces
    specs: dict[str, CampaignSpec]
    live: list[Arrival]  # events that show up after the start, by visible_at


def build(
    world: World,
    workload: Workload,
    seed: int,
    day: datetime,
    until: datetime | None = None,
    start: datetime | None = None,
) -> Scenario:
    """Workspaces, campaigns and events into `world` (whose clock is at `start`, D-1 00:00 by
    default), up to the end of the measured window (`until`, D's end by default) and the tail
    after it: what happened before `start` is history, the rest shows up as it happens."""
    start, end = start or day - DAY, (until or day + DAY) + TAIL
    secret, specs, live = [], {}, []
    for w in range(workload.workspaces):
        name = f"{workload.name}-{w:02d}"
        key = "wbk_sim_" + hashlib.sha256(f"{seed}:{name}".encode()).hexdigest()[:44]
        world.add_workspace(name, key, plan=workload.plan)
        secret.append({"name": name, "api_key": key})
        rng = random.Random(f"{seed}:{name}")
        active = set(rng.sample(range(workload.campaigns), workload.active))
        for c in range(workload.campaigns):
            spec = _campaign(rng, f"cmp_{rng.getrandbits(48):012x}", c in active, day)
            world.add_campaign(
                name, spec.id, status="active" if spec.active else "completed",
                created_at=spec.created_at,
            )  # fmt: skip
            specs[spec.id] = spec
            history = []
            for arrival in arrivals(spec, seed, end):
                if arrival.visible_at <= start:
                    history.append(arrival.event)
                else:
                    live.append(arrival)
            world.add_events(spec.id, history)
    live.sort(key=lambda a: a.visible_at)
    for arrival in live:
        world.add_events(arrival.campaign_id, [arrival.event], visible_at=arrival.visible_at)
    return Scenario(secret, specs, live)


def _campaign(rng: random.Random, campaign_id: str, active: bool, day: datetime) -> CampaignSpec:
    if active:
        contacts = rng.uniform(*ACTIVE_CONTACTS_PER_DAY)
        since = timedelta(days=rng.uniform(*ACTIVE_SINCE_DAYS))
        return CampaignSpec(campaign_id, True, contacts, 0.0, day - since)
    return CampaignSpec(
        campaign_id,
        False,
        rng.uniform(*FINISHED_CONTACTS_PER_DAY),
        rng.uniform(*LATE_EVENTS_PER_DAY),
        created_at=day - 14 * DAY,
        finished_at=day - 11 * DAY,
    )
