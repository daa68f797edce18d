"""GET /v1/campaigns (undocumented upstream; shaped like its siblings) and odd campaign ids."""

from __future__ import annotations

import httpx
import pytest
from leadlex_sandbox import World

from tests.sandbox.helpers import CAMPAIGN, MakeEvent, ids_of


def test_lists_only_the_keys_workspace(world: World, api: httpx.Client) -> None:
    response = api.get("/v1/campaigns")

    assert response.status_code == 200
    campaigns = response.json()["data"]["campaigns"]
    assert [(c["id"], c["name"], c["status"]) for c in campaigns] == [
        (CAMPAIGN, "Q3 outreach", "active")
    ]
    assert campaigns[0]["created_at"].endswith("Z")
    assert response.json()["meta"] == {"page": 1, "per_page": 50, "total": 1}


def test_status_filter_and_pages(world: World, api: httpx.Client) -> None:
    for index, status in enumerate(["draft", "paused", "active", "completed", "active"]):
        world.add_campaign("acme", f"cmp_{index}", status=status)

    active = api.get("/v1/campaigns", params={"status": "active"}).json()
    second = api.get("/v1/campaigns", params={"per_page": 2, "page": 2}).json()

    assert [c["id"] for c in active["data"]["campaigns"]] == [CAMPAIGN, "cmp_2", "cmp_4"]
    assert active["meta"]["total"] == 3
    assert [c["id"] for c in second["data"]["campaigns"]] == ["cmp_1", "cmp_2"]
    assert second["meta"] == {"page": 2, "per_page": 2, "total": 6}


@pytest.mark.parametrize(
    ("campaign_id", "encoded"),
    [
        ("cmp/with/slashes", "cmp%2Fwith%2Fslashes"),
        ("..", "%2E%2E"),
        ("q3 outreach", "q3%20outreach"),
        ("cmp?x=1&y#z", "cmp%3Fx%3D1%26y%23z"),
        ("100%", "100%25"),
    ],
)
def test_percent_encoded_campaign_ids_are_decoded(
    world: World, api: httpx.Client, make_event: MakeEvent, campaign_id: str, encoded: str
) -> None:
    world.add_campaign("acme", campaign_id)
    world.add_events(campaign_id, [make_event("2026-04-17T10:00:00Z", id="evt_odd")])

    response = api.get(f"/v1/campaigns/{encoded}/events")

    assert ids_of(response) == ["evt_odd"]
    assert world.stats()["calls"][-1]["path"] == f"/v1/campaigns/{encoded}/events"
