"""Unauthenticated /_admin endpoints that let `make demo` and subprocess tests steer a server."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from leadlex_sandbox.responses import ApiError, Response, error_response, json_response
from leadlex_sandbox.world import World

ADMIN_PREFIX = "/_admin"
_FAULT_FIELDS = ("kind", "count", "path_regex", "status", "retry_after", "seconds", "probability")


class Admin:
    def __init__(self, world: World) -> None:
        self._world = world

    def handle(self, method: str, path: str, body: bytes) -> Response:
        action = path[len(ADMIN_PREFIX) :].rstrip("/")
        handlers = {
            ("GET", "/stats"): self._stats,
            ("POST", "/reset-stats"): self._reset_stats,
            ("POST", "/clock"): self._clock,
            ("POST", "/faults"): self._add_fault,
            ("DELETE", "/faults"): self._clear_faults,
            ("POST", "/events"): self._add_events,
        }
        handler = handlers.get((method, action))
        if handler is None:
            return error_response(404, "not_found", "No such admin endpoint")
        try:
            return handler(_json_object(body))
        except ApiError as error:
            return error.to_response()
        except (KeyError, TypeError, ValueError) as error:
            return error_response(400, "validation_error", str(error))

    def _stats(self, _: dict[str, Any]) -> Response:
        stats = self._world.stats()
        stats["faults"] = self._world.faults.armed()
        return json_response(200, stats)

    def _reset_stats(self, _: dict[str, Any]) -> Response:
        self._world.reset_stats()
        return json_response(200, {"ok": True})

    def _clock(self, body: dict[str, Any]) -> Response:
        clock = self._world.clock
        if "offset_seconds" in body:
            clock.set_offset(float(body["offset_seconds"]))
        if "advance_seconds" in body:
            clock.advance(float(body["advance_seconds"]))
        now = clock.now().isoformat()
        return json_response(200, {"offset_seconds": clock.offset_seconds, "now": now})

    def _add_fault(self, body: dict[str, Any]) -> Response:
        unknown = set(body) - set(_FAULT_FIELDS)
        if unknown:
            raise ValueError(f"unknown fault fields: {sorted(unknown)}")
        fault = self._world.faults.add(**body)
        return json_response(201, {"fault": fault.describe()})

    def _clear_faults(self, _: dict[str, Any]) -> Response:
        self._world.faults.clear()
        return json_response(200, {"ok": True})

    def _add_events(self, body: dict[str, Any]) -> Response:
        campaign_id, events = body["campaign_id"], body["events"]
        if not isinstance(events, list):
            raise ValueError("events must be a list")
        delay = body.get("visible_after_seconds")
        visible_at = None
        if delay is not None:
            visible_at = self._world.clock.now() + timedelta(seconds=float(delay))
        try:
            added = self._world.add_events(campaign_id, events, visible_at=visible_at)
        except KeyError:
            raise ApiError(404, "campaign_not_found", "No campaign with this ID") from None
        return json_response(201, {"added": added})


def _json_object(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        parsed = json.loads(body)
    except ValueError:
        raise ApiError(400, "validation_error", "Body must be JSON") from None
    if not isinstance(parsed, dict):
        raise ApiError(400, "validation_error", "Body must be a JSON object")
    return parsed
