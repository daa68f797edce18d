"""Realistic, seed-deterministic sample data: workspaces, campaigns (one a draft) and events.

Ids, contacts, types and metadata depend only on the seed; timestamps are laid out over the
last `days` days ending a few minutes before the sandbox clock's now.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from leadlex_sandbox import catalog
from leadlex_sandbox.funnel import EventIds, journey, new_contact
from leadlex_sandbox.timestamps import format_utc
from leadlex_sandbox.world import World

DEFAULT_WORKSPACES = (("acme", "wbk_sandbox_acme_0000000000000000000000000000000000000000"),)
_STATUS_CYCLE = ("active", "completed", "paused", "active", "pending_approval")
_STEPS = 3


def generate_world(
    world: World,
    seed: int = 42,
    workspaces: Sequence[Sequence[str]] = DEFAULT_WORKSPACES,
    campaigns_per_workspace: int = 3,
    events_per_campaign: int = 500,
    days: int = 30,
    late_fraction: float = 0.0,
) -> dict[str, list[str]]:
    """Add each (name, api_key[, plan]) workspace with seeded campaigns; returns their ids."""
    created: dict[str, list[str]] = {}
    for spec in workspaces:
        name, api_key = spec[0], spec[1]
        world.add_workspace(name, api_key, plan=spec[2] if len(spec) > 2 else "pro")
        created[name] = seed_workspace(
            world,
            name,
            seed=seed,
            campaigns=campaigns_per_workspace,
            events_per_campaign=events_per_campaign,
            days=days,
            late_fraction=late_fraction,
        )
    return created


def seed_workspace(
    world: World,
    workspace: str,
    *,
    seed: int = 42,
    campaigns: int = 3,
    events_per_campaign: int = 500,
    days: int = 30,
    late_fraction: float = 0.0,
) -> list[str]:
    """Seed campaigns into an existing workspace; the last of three or more is a draft."""
    rng = random.Random(f"{seed}:{workspace}")
    ids = EventIds(rng)
    end = world.clock.now() - timedelta(minutes=rng.randint(2, 9))
    start = end - timedelta(days=days)
    campaign_ids = []
    for index in range(campaigns):
        status = "draft" if campaigns >= 3 and index == campaigns - 1 else _STATUS_CYCLE[index % 5]
        campaign_id = f"cmp_{rng.getrandbits(40):010x}"
        name = catalog.CAMPAIGN_NAMES[index % len(catalog.CAMPAIGN_NAMES)]
        created_at = start - timedelta(days=rng.randint(1, 14))
        world.add_campaign(workspace, campaign_id, name, status=status, created_at=created_at)
        campaign_ids.append(campaign_id)
        if status != "draft":
            events = campaign_events(rng, ids, events_per_campaign, start, end)
            _store(world, rng, campaign_id, events, events_per_campaign, late_fraction)
    return campaign_ids


def campaign_events(
    rng: random.Random, ids: EventIds, n: int, start: datetime, end: datetime
) -> Iterator[dict[str, Any]]:
    """Exactly `n` funnel events stamped within [start, end], made one contact at a time."""
    last_stamp = format_utc(end)
    span = (end - start).total_seconds()
    produced = 0
    while produced < n:
        first_send = start + timedelta(seconds=rng.uniform(0, span))
        for event in journey(rng, ids, new_contact(rng), first_send, _STEPS):
            if event["timestamp"] <= last_stamp and produced < n:
                produced += 1
                yield event


def _store(
    world: World,
    rng: random.Random,
    campaign_id: str,
    events: Iterator[dict[str, Any]],
    count: int,
    late_fraction: float,
) -> None:
    """Stream events into the store (no list of dicts: 300k of them would cost ~300 MB).

    Late events keep their old timestamps but only appear 1-30 minutes from now.
    """
    late_positions = set(rng.sample(range(count), k=round(count * late_fraction)))
    late: list[dict[str, Any]] = []

    def on_time() -> Iterator[dict[str, Any]]:
        for position, event in enumerate(events):
            if position in late_positions:
                late.append(event)
            else:
                yield event

    world.add_events(campaign_id, on_time())
    now = world.clock.now()
    for event in late:
        visible_at = now + timedelta(seconds=rng.randint(60, 1800))
        world.add_events(campaign_id, [event], visible_at=visible_at)
