"""Documented error answers: 401, 403, 404 and 400 bodies, each with the rate-limit headers."""

from __future__ import annotations

import httpx
import pytest
from leadlex_sandbox import World

from tests.sandbox.helpers import ACME_KEY, CAMPAIGN, bearer

EVENTS = f"/v1/campaigns/{CAMPAIGN}/events"


def _error(response: httpx.Response) -> dict:
    return response.json()["error"]


@pytest.mark.parametrize(
    "headers",
    [{}, bearer("wbk_unknown"), {"Authorization": ACME_KEY}, {"Authorization": "Basic abc"}],
    ids=["missing", "unknown", "no-scheme", "basic"],
)
def test_bad_key_gets_401_invalid_key(anonymous: httpx.Client, headers: dict) -> None:
    response = anonymous.get(EVENTS, headers=headers)

    assert response.status_code == 401
    assert response.json() == {
        "error": {"code": "invalid_key", "message": "Invalid or expired API key"}
    }
    assert response.headers["X-Request-ID"]
    assert "X-RateLimit-Reset" in response.headers


def test_revoked_key_gets_401(world: World, api: httpx.Client) -> None:
    world.revoke_key("acme")

    response = api.get(EVENTS)

    assert response.status_code == 401
    assert _error(response)["code"] == "invalid_key"


def test_key_without_campaigns_read_gets_403(world: World, api: httpx.Client) -> None:
    world.set_scopes("acme", ("contacts:read",))

    response = api.get(EVENTS)

    assert response.status_code == 403
    assert _error(response)["code"] == "insufficient_permissions"


@pytest.mark.parametrize("campaign", ["cmp_nope", "cmp_globex1"], ids=["unknown", "other-ws"])
def test_unknown_or_foreign_campaign_gets_404(api: httpx.Client, campaign: str) -> None:
    response = api.get(f"/v1/campaigns/{campaign}/events")

    assert response.status_code == 404
    assert _error(response)["code"] == "campaign_not_found"


def test_deleted_campaign_gets_404(world: World, api: httpx.Client) -> None:
    world.delete_campaign(CAMPAIGN)

    assert api.get(EVENTS).status_code == 404


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"per_page": 101}, "per_page"),
        ({"per_page": 0}, "per_page"),
        ({"per_page": "ten"}, "per_page"),
        ({"page": 0}, "page"),
        ({"from_date": "17/04/2026"}, "from_date"),
        ({"to_date": "2026-13-01T00:00:00Z"}, "to_date"),
    ],
)
def test_invalid_query_gets_400_validation_error(
    api: httpx.Client, params: dict, field: str
) -> None:
    response = api.get(EVENTS, params=params)

    assert response.status_code == 400
    assert _error(response)["code"] == "validation_error"
    assert field in _error(response)["details"]["fields"]


def test_unknown_event_type_gets_400_invalid_event_type(api: httpx.Client) -> None:
    response = api.get(EVENTS, params={"type": "forwarded"})

    assert response.status_code == 400
    assert _error(response)["code"] == "invalid_event_type"


def test_per_page_100_is_allowed(api: httpx.Client) -> None:
    assert api.get(EVENTS, params={"per_page": 100}).status_code == 200


def test_unknown_endpoint_gets_404_not_found(api: httpx.Client) -> None:
    response = api.get("/v1/contacts")

    assert response.status_code == 404
    assert _error(response)["code"] == "not_found"
