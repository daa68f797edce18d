"""GET /v1/campaigns/{id}/events: pages, totals, newest-first order, filters, stored-as-given."""

from __future__ import annotations

from datetime import timedelta

import httpx
from leadlex_sandbox import World

from tests.sandbox.helpers import CAMPAIGN, MakeEvent, events_of, ids_of

EVENTS = f"/v1/campaigns/{CAMPAIGN}/events"


def _minute_events(make_event: MakeEvent, count: int) -> list[dict]:
    return [make_event(f"2026-04-17T10:{m:02d}:00Z", id=f"evt_{m:04d}") for m in range(count)]


def test_pages_split_events_and_meta_total_counts_all(
    world: World, api: httpx.Client, make_event: MakeEvent
) -> None:
    world.add_events(CAMPAIGN, _minute_events(make_event, 55))

    first = api.get(EVENTS, params={"per_page": 20})
    last = api.get(EVENTS, params={"per_page": 20, "page": 3})
    beyond = api.get(EVENTS, params={"per_page": 20, "page": 4})

    assert first.json()["meta"] == {"page": 1, "per_page": 20, "total": 55}
    assert ids_of(first) == [f"evt_{m:04d}" for m in range(54, 34, -1)]
    assert ids_of(last) == [f"evt_{m:04d}" for m in range(14, -1, -1)]
    assert events_of(beyond) == []
    assert beyond.json()["meta"]["total"] == 55


def test_default_page_size_is_50(world: World, api: httpx.Client, make_event: MakeEvent) -> None:
    world.add_events(CAMPAIGN, _minute_events(make_event, 55))

    response = api.get(EVENTS)

    assert response.json()["meta"] == {"page": 1, "per_page": 50, "total": 55}
    assert len(events_of(response)) == 50


def test_newest_first_with_ties_broken_by_id_descending(
    world: World, api: httpx.Client, make_event: MakeEvent
) -> None:
    same_second = "2026-04-17T14:23:05Z"
    world.add_events(
        CAMPAIGN,
        [
            make_event(same_second, id="evt_b"),
            make_event("2026-04-17T14:23:04Z", id="evt_z"),
            make_event(same_second, id="evt_c"),
            make_event(same_second, id="evt_a"),
            make_event("2026-04-17T14:23:06Z", id="evt_0"),
        ],
    )

    pages = [ids_of(api.get(EVENTS, params={"per_page": 2, "page": p})) for p in (1, 2, 3)]

    assert pages == [["evt_0", "evt_c"], ["evt_b", "evt_a"], ["evt_z"]]


def test_order_uses_instants_not_text(
    world: World, api: httpx.Client, make_event: MakeEvent
) -> None:
    # 14:23:05.123+02:00 is 12:23:05.123Z: older than 13:00Z although it sorts later as text.
    world.add_events(
        CAMPAIGN,
        [
            make_event("2026-04-17T14:23:05.123+02:00", id="evt_offset"),
            make_event("2026-04-17T13:00:00Z", id="evt_utc"),
        ],
    )

    assert ids_of(api.get(EVENTS)) == ["evt_utc", "evt_offset"]


def test_from_and_to_dates_are_inclusive(
    world: World, api: httpx.Client, make_event: MakeEvent
) -> None:
    world.add_events(CAMPAIGN, _minute_events(make_event, 10))
    window = {"from_date": "2026-04-17T10:03:00Z", "to_date": "2026-04-17T10:06:00Z"}

    response = api.get(EVENTS, params=window)

    assert ids_of(response) == ["evt_0006", "evt_0005", "evt_0004", "evt_0003"]
    assert response.json()["meta"]["total"] == 4


def test_date_bounds_compare_instants_across_offsets_and_fractions(
    world: World, api: httpx.Client, make_event: MakeEvent
) -> None:
    world.add_events(
        CAMPAIGN,
        [
            make_event("2026-04-17T10:00:00.500Z", id="evt_half"),
            make_event("2026-04-17T10:00:01Z", id="evt_one"),
        ],
    )

    same_instant = api.get(EVENTS, params={"from_date": "2026-04-17T12:00:00.5+02:00"})
    whole_second = api.get(EVENTS, params={"to_date": "2026-04-17T10:00:00Z"})

    assert ids_of(same_instant) == ["evt_one", "evt_half"]
    assert ids_of(whole_second) == []


def test_type_and_contact_filters(world: World, api: httpx.Client, make_event: MakeEvent) -> None:
    other = "00000000-0000-4000-8000-000000000001"
    world.add_events(
        CAMPAIGN,
        [
            make_event("2026-04-17T10:00:00Z", "sent", id="evt_1"),
            make_event("2026-04-17T10:00:01Z", "opened", id="evt_2"),
            make_event("2026-04-17T10:00:02Z", "opened", id="evt_3", contact_id=other),
            make_event("2026-04-17T10:00:03Z", "clicked", id="evt_4", contact_id=other),
        ],
    )

    opened = api.get(EVENTS, params={"type": "opened"})
    by_contact = api.get(EVENTS, params={"contact_id": other})
    both = api.get(EVENTS, params={"contact_id": other, "type": "clicked"})

    assert ids_of(opened) == ["evt_3", "evt_2"]
    assert ids_of(by_contact) == ["evt_4", "evt_3"]
    assert ids_of(both) == ["evt_4"]
    assert both.json()["meta"]["total"] == 1


def test_events_come_back_exactly_as_stored(
    world: World, api: httpx.Client, make_event: MakeEvent
) -> None:
    odd = make_event(
        "2026-04-17T14:23:05.123+02:00",
        "opened",
        email=None,
        metadata={"user_agent": "Mozilla/5.0 ...", "ip_country": "DE", "extra": [1, None]},
        brand_new_field={"nested": True},
    )
    world.add_events(CAMPAIGN, [odd])

    assert events_of(api.get(EVENTS)) == [odd]


def test_malformed_events_are_served_at_their_insertion_time(
    world: World, api: httpx.Client, make_event: MakeEvent
) -> None:
    world.add_events(CAMPAIGN, [make_event("2020-01-01T00:00:00Z", id="evt_old")])
    broken = {"id": "evt_broken", "type": "sent", "timestamp": "yesterday-ish"}
    missing = {"id": "evt_missing", "type": "sent"}
    world.add_events(CAMPAIGN, [broken, missing])
    now = world.clock.now()

    recent = api.get(EVENTS, params={"from_date": (now - timedelta(minutes=1)).isoformat()})

    assert events_of(recent) == [missing, broken]
    assert ids_of(api.get(EVENTS))[-1] == "evt_old"
