"""A 300,000-event campaign still answers any page in milliseconds."""

from __future__ import annotations

import time
from datetime import timedelta

import httpx
from leadlex_sandbox import Clock, World

from tests.sandbox.helpers import CAMPAIGN, events_of

EVENTS = f"/v1/campaigns/{CAMPAIGN}/events"
SIZE = 300_000


def test_300k_event_campaign_pages_quickly(world: World, clock: Clock, api: httpx.Client) -> None:
    end = clock.now().replace(microsecond=0)
    start = end - timedelta(days=90)
    assert world.bulk_events(CAMPAIGN, SIZE, start, end, seed=7) == SIZE
    middle = (start + timedelta(days=45)).isoformat()
    queries = [
        {"per_page": 100},
        {"per_page": 100, "page": 1500},
        {"per_page": 100, "page": 3000},
        {"per_page": 100, "type": "opened", "page": 200},
        {"per_page": 100, "from_date": middle, "to_date": end.isoformat(), "page": 700},
    ]

    started = time.monotonic()
    pages = [api.get(EVENTS, params=query) for query in queries]
    elapsed = time.monotonic() - started

    newest = events_of(pages[0])
    assert pages[0].json()["meta"]["total"] == SIZE
    assert newest[0]["timestamp"] == end.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert len(events_of(pages[2])) == 100
    stamps = [e["timestamp"] for e in events_of(pages[1])]
    assert stamps == sorted(stamps, reverse=True)
    assert {e["type"] for e in events_of(pages[3])} == {"opened"}
    assert 0 < pages[4].json()["meta"]["total"] < SIZE
    assert elapsed < 1.0, f"5 pages took {elapsed:.3f}s"
