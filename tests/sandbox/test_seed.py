"""generate_world: deterministic, realistic funnels over the last `days` days."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import datetime, timedelta

import httpx
from leadlex_sandbox import Clock, SandboxServer, World, generate_world

from tests.sandbox.helpers import bearer

WORKSPACES = [("acme", "wbk_seed_acme", "org"), ("globex", "wbk_seed_globex")]
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def _all_events(world: World, api_key: str, campaign_id: str) -> list[dict]:
    with (
        SandboxServer(world) as server,
        httpx.Client(base_url=server.base_url, headers=bearer(api_key), timeout=10) as api,
    ):
        events: list[dict] = []
        for page in range(1, 100):
            body = api.get(
                f"/v1/campaigns/{campaign_id}/events", params={"per_page": 100, "page": page}
            ).json()
            events += body["data"]["events"]
            if page * 100 >= body["meta"]["total"]:
                return events
    raise AssertionError("too many pages")


def _seeded(seed: int, **options: object) -> tuple[World, dict[str, list[str]]]:
    world = World(clock=Clock())
    options = {"events_per_campaign": 300, **options}
    return world, generate_world(world, seed=seed, workspaces=WORKSPACES, **options)


def test_same_seed_same_data_other_seed_other_data() -> None:
    world_a, ids_a = _seeded(42)
    world_b, ids_b = _seeded(42)
    _, ids_c = _seeded(43)

    events_a = _all_events(world_a, "wbk_seed_globex", ids_a["globex"][0])
    events_b = _all_events(world_b, "wbk_seed_globex", ids_b["globex"][0])

    assert ids_a == ids_b != ids_c
    assert [e["id"] for e in events_a] == [e["id"] for e in events_b]
    assert len(ids_a["acme"]) == 3


def test_campaigns_have_realistic_statuses_and_one_draft() -> None:
    world, ids = _seeded(42)

    campaigns = world.campaigns_of("acme")

    assert [c.id for c in campaigns] == ids["acme"]
    assert [c.status for c in campaigns] == ["active", "completed", "draft"]
    assert all(c.name and not c.name.startswith("cmp_") for c in campaigns)
    assert [world.workspace_for_key(key[1]).plan for key in WORKSPACES] == ["org", "pro"]  # type: ignore[union-attr]


def test_events_follow_a_funnel_within_the_window() -> None:
    world, ids = _seeded(7, days=30)
    now = world.clock.now()

    events = _all_events(world, "wbk_seed_acme", ids["acme"][0])

    assert len(events) == 300
    assert len({e["id"] for e in events}) == 300
    assert all(re.fullmatch(r"evt_[0-9a-f]{12}", e["id"]) for e in events)
    assert all(STAMP.match(e["timestamp"]) for e in events)
    stamps = [datetime.fromisoformat(e["timestamp"]) for e in events]
    assert now - timedelta(days=30, minutes=10) <= min(stamps)
    assert max(stamps) < now
    assert max(Counter(e["timestamp"] for e in events).values()) > 1  # shared seconds
    kinds = Counter(e["type"] for e in events)
    assert kinds["sent"] >= kinds["delivered"] > kinds["opened"] > kinds["clicked"] > 0
    assert {e["step_id"] for e in events} <= {"step_1", "step_2", "step_3"}
    per_contact: defaultdict[str, list[tuple[str, str]]] = defaultdict(list)
    for event in events:
        per_contact[event["contact_id"]].append((event["timestamp"], event["type"]))
    for journey in per_contact.values():  # every journey starts with a send
        assert (min(journey)[0], "sent") in journey
    opened = next(e for e in events if e["type"] == "opened")
    assert set(opened["metadata"]) == {"user_agent", "ip_country"}
    assert set(next(e for e in events if e["type"] == "clicked")["metadata"]) == {"url"}


def test_draft_has_no_events_and_late_events_wait() -> None:
    world, ids = _seeded(42, late_fraction=0.1)

    visible = _all_events(world, "wbk_seed_acme", ids["acme"][0])
    draft = _all_events(world, "wbk_seed_acme", ids["acme"][2])
    world.clock.advance(3600)
    later = _all_events(world, "wbk_seed_acme", ids["acme"][0])

    assert len(visible) == 270
    assert draft == []
    assert len(later) == 300
