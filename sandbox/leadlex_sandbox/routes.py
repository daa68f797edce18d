"""The read endpoints of /v1: query validation and the page each one returns."""

from __future__ import annotations

import re
from urllib.parse import unquote

from leadlex_sandbox.models import EVENT_TYPES, Workspace
from leadlex_sandbox.responses import (
    ApiError,
    Response,
    events_response,
    field_error,
    json_response,
)
from leadlex_sandbox.store import EventFilter
from leadlex_sandbox.timestamps import parse_instant, to_micros
from leadlex_sandbox.world import World

_CAMPAIGNS = re.compile(r"^/v1/campaigns/?$")
_CAMPAIGN = re.compile(r"^/v1/campaigns/([^/]+)/?$")
_EVENTS = re.compile(r"^/v1/campaigns/([^/]+)/events/?$")
_INTEGER = re.compile(r"-?[0-9]+")
DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 100


def route(
    world: World, workspace: Workspace, method: str, path: str, query: dict[str, str]
) -> Response:
    """Answer one authenticated, admitted request; `path` is still percent-encoded."""
    if method != "GET":
        raise ApiError(405, "method_not_allowed", f"{method} is not supported here")
    if not workspace.can_read_campaigns:
        raise ApiError(403, "insufficient_permissions", "Missing campaigns:read permission")
    if _CAMPAIGNS.match(path):
        return list_campaigns(world, workspace, query)
    if match := _EVENTS.match(path):
        return list_events(world, workspace, unquote(match.group(1)), query)
    if match := _CAMPAIGN.match(path):
        return get_campaign(world, workspace, unquote(match.group(1)))
    raise ApiError(404, "not_found", "No such endpoint")


def list_campaigns(world: World, workspace: Workspace, query: dict[str, str]) -> Response:
    page, per_page = read_paging(query)
    campaigns = world.campaigns_of(workspace.name)
    if "status" in query:
        campaigns = [c for c in campaigns if c.status == query["status"]]
    start = (page - 1) * per_page
    chosen = [c.summary() for c in campaigns[start : start + per_page]]
    meta = {"page": page, "per_page": per_page, "total": len(campaigns)}
    return json_response(200, {"data": {"campaigns": chosen}, "meta": meta})


def get_campaign(world: World, workspace: Workspace, campaign_id: str) -> Response:
    campaign = world.visible_campaign(workspace.name, campaign_id)
    if campaign is None:
        raise ApiError(404, "campaign_not_found", "No campaign with this ID")
    return json_response(200, {"data": {"campaign": campaign.summary()}})


def list_events(
    world: World, workspace: Workspace, campaign_id: str, query: dict[str, str]
) -> Response:
    page, per_page = read_paging(query)
    wanted = read_event_filter(query)
    with world.lock:
        campaign = world.visible_campaign(workspace.name, campaign_id)
        if campaign is None:
            raise ApiError(404, "campaign_not_found", "No campaign with this ID")
        payloads, total = campaign.events.page(wanted, page, per_page)
    return events_response(payloads, page, per_page, total)


def read_paging(query: dict[str, str]) -> tuple[int, int]:
    page = _read_int(query, "page", 1, 1, None)
    per_page = _read_int(query, "per_page", DEFAULT_PER_PAGE, 1, MAX_PER_PAGE)
    return page, per_page


def read_event_filter(query: dict[str, str]) -> EventFilter:
    kind = query.get("type")
    if kind is not None and kind not in EVENT_TYPES:
        raise ApiError(
            400,
            "invalid_event_type",
            f"Unrecognized type value: {kind!r}",
            {"allowed": list(EVENT_TYPES)},
        )
    return EventFilter(
        type=kind,
        contact_id=query.get("contact_id"),
        from_micros=_read_instant(query, "from_date"),
        to_micros=_read_instant(query, "to_date"),
    )


def _read_int(query: dict[str, str], name: str, default: int, low: int, high: int | None) -> int:
    if name not in query:
        return default
    if not _INTEGER.fullmatch(query[name]):
        raise field_error(name, "Must be an integer")
    value = int(query[name])
    if value < low or (high is not None and value > high):
        bounds = f"at least {low}" if high is None else f"between {low} and {high}"
        raise field_error(name, f"Must be {bounds}")
    return value


def _read_instant(query: dict[str, str], name: str) -> int | None:
    if name not in query:
        return None
    moment = parse_instant(query[name])
    if moment is None:
        raise field_error(name, "Must be an ISO 8601 timestamp")
    return to_micros(moment)
