"""Late events (visible only from a given time) and events arriving while a client pages."""

from __future__ import annotations

from datetime import timedelta

import httpx
from leadlex_sandbox import Clock, World

from tests.sandbox.helpers import CAMPAIGN, MakeEvent, ids_of

EVENTS = f"/v1/campaigns/{CAMPAIGN}/events"


def test_late_events_appear_in_place_once_visible(
    world: World, clock: Clock, api: httpx.Client, make_event: MakeEvent
) -> None:
    world.add_events(
        CAMPAIGN,
        [
            make_event("2026-04-17T10:00:00Z", id="evt_a"),
            make_event("2026-04-17T12:00:00Z", id="evt_c"),
        ],
    )
    late = make_event("2026-04-17T11:00:00Z", id="evt_b_late")
    world.add_events(CAMPAIGN, [late], visible_at=clock.now() + timedelta(minutes=10))

    before = api.get(EVENTS)
    clock.advance(601)
    after = api.get(EVENTS)

    assert ids_of(before) == ["evt_c", "evt_a"]
    assert before.json()["meta"]["total"] == 2
    assert ids_of(after) == ["evt_c", "evt_b_late", "evt_a"]
    assert after.json()["meta"]["total"] == 3


def test_events_added_between_pages_shift_later_pages(
    world: World, api: httpx.Client, make_event: MakeEvent
) -> None:
    world.add_events(
        CAMPAIGN, [make_event(f"2026-04-17T10:00:{s:02d}Z", id=f"evt_{s:02d}") for s in range(4)]
    )

    def insert_newer_before_second_page(path: str, query: dict, call_index: int) -> None:
        if call_index == 1:
            world.add_events(CAMPAIGN, [make_event("2026-04-17T11:00:00Z", id="evt_new")])

    world.on_request(insert_newer_before_second_page)
    first = ids_of(api.get(EVENTS, params={"per_page": 2}))
    second = api.get(EVENTS, params={"per_page": 2, "page": 2})

    assert first == ["evt_03", "evt_02"]
    assert ids_of(second) == ["evt_02", "evt_01"]  # the documented drift: a duplicate
    assert second.json()["meta"]["total"] == 5


def test_on_request_sees_path_and_query_and_can_be_removed(world: World, api: httpx.Client) -> None:
    seen: list[tuple] = []
    remove = world.on_request(lambda path, query, index: seen.append((path, query, index)))

    api.get(EVENTS, params={"per_page": 5})
    remove()
    api.get(EVENTS)

    assert seen == [(EVENTS, {"per_page": "5"}, 0)]


def test_stats_count_calls_per_workspace_and_reset(world: World, api: httpx.Client) -> None:
    api.get("/v1/campaigns")
    api.get(EVENTS, params={"page": 2})
    api.get(EVENTS, headers={"Authorization": "Bearer wbk_nobody"})

    stats = world.stats()
    world.reset_stats()

    assert stats["by_workspace"] == {"acme": {"total": 2, "events": 1, "campaigns": 1}}
    assert stats["calls"][1] == {
        "workspace": "acme",
        "path": EVENTS,
        "query": {"page": "2"},
        "status": 200,
    }
    assert stats["calls"][2]["workspace"] is None
    assert stats["calls"][2]["status"] == 401
    assert world.stats() == {"calls": [], "by_workspace": {}}
