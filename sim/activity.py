"""Seeded, realistic campaign activity: who sends, when events happen, when the API shows them.

- An active campaign starts new contacts all day (a Poisson process, busier in the European and
  American working day), each on the sandbox's funnel: sent, delivered, some opened, few
  clicked or replied, over three steps days apart.
- A finished campaign had its contacts earlier (its history) and now only gets the odd late
  event, a few a day: replies, opens, clicks, unsubscribes.
- Most events show in the API the second they happen; LATE_SHARE of them 1 to 10 minutes later
  (the exporter's lookback covers up to 10).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from leadlex_sandbox import catalog
from leadlex_sandbox.funnel import EventIds, journey, new_contact
from leadlex_sandbox.timestamps import format_utc

LATE_SHARE = 0.1
STEPS = 3
QUIET_KINDS = ("replied", "opened", "clicked", "unsubscribed")  # a finished campaign's late events
QUIET_WEIGHTS = (0.4, 0.35, 0.15, 0.1)
PEAK = 0.6  # the day's swing of an active campaign's rate around its mean


@dataclass(frozen=True)
class Arrival:
    campaign_id: str
    event: dict[str, Any]
    happened_at: datetime
    visible_at: datetime

    @property
    def key(self) -> tuple[str, str]:
        return self.campaign_id, str(self.event["id"])

    @property
    def hot(self) -> bool:
        return self.event["type"] in ("clicked", "replied")


@dataclass(frozen=True)
class CampaignSpec:
    id: str
    active: bool
    contacts_per_day: float  # active: new contacts a day; finished: before it finished
    late_per_day: float  # finished: late events a day
    created_at: datetime
    finished_at: datetime | None = None


def arrivals(spec: CampaignSpec, seed: int, end: datetime) -> Iterator[Arrival]:
    """Every event of the campaign stamped before `end`, in no particular order."""
    rng = random.Random(f"{seed}:{spec.id}")
    ids = EventIds(rng)
    sending_until = spec.finished_at or end
    for first_send in _poisson(rng, spec.created_at, sending_until, spec.contacts_per_day, True):
        for event in journey(rng, ids, new_contact(rng), first_send, STEPS):
            stamped = _stamp(event)
            if stamped < end:
                yield _arrive(rng, spec.id, event, stamped)
    if spec.finished_at is not None:
        for at in _poisson(rng, spec.finished_at, end, spec.late_per_day, False):
            yield _arrive(rng, spec.id, _late_event(rng, ids, at), at)


def _arrive(rng: random.Random, campaign_id: str, event: dict[str, Any], at: datetime) -> Arrival:
    delay = rng.randint(60, 600) if rng.random() < LATE_SHARE else 0
    return Arrival(campaign_id, event, at, at + timedelta(seconds=delay))


def _poisson(
    rng: random.Random, start: datetime, end: datetime, per_day: float, diurnal: bool
) -> Iterator[datetime]:
    """Arrival instants at `per_day` on average; `diurnal`: by thinning, peaking at 15:00 UTC."""
    if per_day <= 0:
        return
    top = per_day * (1 + PEAK if diurnal else 1.0) / 86_400
    at = start
    while True:
        at += timedelta(seconds=rng.expovariate(top))
        if at >= end:
            return
        if diurnal:
            hour = at.hour + at.minute / 60
            share = (1 + PEAK * math.sin(2 * math.pi * (hour - 9) / 24)) / (1 + PEAK)
            if rng.random() >= share:
                continue
        yield at.replace(microsecond=0)


def _late_event(rng: random.Random, ids: EventIds, at: datetime) -> dict[str, Any]:
    kind = rng.choices(QUIET_KINDS, QUIET_WEIGHTS)[0]
    contact = new_contact(rng)
    metadata: dict[str, Any] = {
        "replied": lambda: dict(
            zip(("snippet", "sentiment"), rng.choice(catalog.REPLIES), strict=False)
        ),
        "opened": lambda: {
            "user_agent": rng.choice(catalog.USER_AGENTS),
            "ip_country": rng.choice(catalog.COUNTRIES),
        },
        "clicked": lambda: {"url": rng.choice(catalog.URLS)},
        "unsubscribed": lambda: {"source": "footer_link"},
    }[kind]()
    return {
        "id": ids.next(),
        "type": kind,
        "contact_id": contact.id,
        "email": contact.email,
        "step_id": f"step_{rng.randint(1, STEPS)}",
        "timestamp": format_utc(at),
        "metadata": metadata,
    }


def _stamp(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(event["timestamp"]).replace("Z", "+00:00"))
