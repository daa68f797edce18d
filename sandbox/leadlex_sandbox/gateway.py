"""One API request through the sandbox: listeners, faults, key, quota, then the route.

Order matters and mirrors a gateway in front of the real API: an injected fault answers before
anything else (and costs no quota, except `slow`, `truncate` and `nonjson`, which wrap a normal
answer); a bad key is refused without spending quota; every admitted call spends one unit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import datetime

from leadlex_sandbox.faults import Fault
from leadlex_sandbox.models import Workspace
from leadlex_sandbox.responses import ApiError, Response, error_response
from leadlex_sandbox.routes import route
from leadlex_sandbox.world import World

API_PREFIX = "/functions/v1/api-gateway"
_FAULT_CODES = {
    500: "internal_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}
_HTML_PAGE = (
    b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
    b"<body><h1>Bad Gateway</h1><p>The upstream server is unavailable.</p></body></html>"
)


@dataclass(frozen=True)
class ApiRequest:
    method: str
    path: str  # after API_PREFIX, still percent-encoded, without the query string
    query: dict[str, str]
    authorization: str | None


class Gateway:
    def __init__(self, world: World) -> None:
        self._world = world

    def now(self) -> datetime:
        """The API's clock (what its `Date` header says)."""
        return self._world.clock.now()

    def handle(self, request: ApiRequest) -> Response | None:
        """The answer to send, or None to close the connection without one."""
        world = self._world
        world.begin_request(request.path, request.query)
        workspace = world.workspace_for_key(bearer_token(request.authorization))
        fault = world.faults.take(request.path)
        response = self._answer(request, workspace, fault)
        world.calls.record(
            workspace.name if workspace else None,
            request.path,
            request.query,
            response.status if response else None,
            fault.kind if fault else None,
        )
        return response

    def _answer(
        self, request: ApiRequest, workspace: Workspace | None, fault: Fault | None
    ) -> Response | None:
        if fault is None:
            return self._serve(request, workspace)
        if fault.kind == "drop":
            return None
        if fault.kind == "status":
            code = _FAULT_CODES.get(fault.status, "upstream_error")
            answer = error_response(fault.status, code, "Injected upstream failure")
            return answer.with_headers(self._world.quota.peek(workspace).headers())
        if fault.kind == "rate_limit":
            return self._rate_limited(workspace, fault.retry_after)
        if fault.kind == "slow":
            time.sleep(fault.seconds)
        response = self._serve(request, workspace)
        if fault.kind == "truncate":
            return replace(response, status=200, body=response.body[: len(response.body) // 2])
        if fault.kind == "nonjson":
            return replace(response, status=200, body=_HTML_PAGE, content_type="text/html")
        return response

    def _serve(self, request: ApiRequest, workspace: Workspace | None) -> Response:
        world = self._world
        if workspace is None or workspace.revoked:
            answer = error_response(401, "invalid_key", "Invalid or expired API key")
            return answer.with_headers(world.quota.peek(workspace).headers())
        verdict = world.quota.admit(workspace)
        if not verdict.admitted:
            omit = world.faults.take_retry_after_omission(request.path)
            return self._rate_limited(workspace, None if omit else verdict.retry_after)
        try:
            answer = route(world, workspace, request.method, request.path, request.query)
        except ApiError as error:
            answer = error.to_response()
        return answer.with_headers(verdict.headers())

    def _rate_limited(self, workspace: Workspace | None, retry_after: int | None) -> Response:
        answer = error_response(429, "rate_limited", "Rate limit exceeded")
        headers = self._world.quota.peek(workspace).headers()
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        return answer.with_headers(headers)


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None
