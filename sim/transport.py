"""The sandbox's gateway as an httpx transport: no socket, no thread, the exporter's own
`LeadLexClient` over it. Every answer is recorded with the virtual time it was given at."""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from email.utils import format_datetime
from urllib.parse import unquote

import httpx
from leadlex_sandbox.gateway import API_PREFIX, ApiRequest, Gateway, bearer_token
from leadlex_sandbox.world import World

BASE_URL = "https://sandbox.sim" + API_PREFIX
_EVENTS = re.compile(r"^/v1/campaigns/([^/]+)/events/?$")


@dataclass(frozen=True)
class Call:
    at: float  # Unix seconds, virtual
    workspace: str
    campaign_id: str | None  # None: the campaign list
    page: int
    status: int


@dataclass
class CallRecord:
    calls: list[Call] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)


class SandboxTransport(httpx.BaseTransport):
    def __init__(self, world: World, record: CallRecord) -> None:
        self._world, self._gateway, self._record = world, Gateway(world), record

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        raw = request.url.raw_path.decode("ascii").partition("?")[0]
        path = raw[len(API_PREFIX) :] if raw.startswith(API_PREFIX) else raw
        query = dict(request.url.params)
        authorization = request.headers.get("authorization")
        answer = self._gateway.handle(ApiRequest(request.method, path, query, authorization))
        if answer is None:
            raise httpx.RemoteProtocolError("the sandbox dropped the connection", request=request)
        now = self._world.clock.now()
        workspace = self._world.workspace_for_key(bearer_token(authorization))
        match = _EVENTS.match(path)
        self._record.add(
            Call(
                at=now.timestamp(),
                workspace=workspace.name if workspace else "-",
                campaign_id=unquote(match.group(1)) if match else None,
                page=int(query.get("page", "1") or 1),
                status=answer.status,
            )
        )
        headers = {
            **answer.headers,
            "Content-Type": answer.content_type,
            "Date": format_datetime(now.replace(microsecond=0), usegmt=True),
            "X-Request-ID": str(uuid.uuid4()),
        }
        return httpx.Response(answer.status, headers=headers, content=answer.body)


HttpFactory = Callable[[str], AbstractContextManager[httpx.Client]]


def http_factory(transport: SandboxTransport) -> HttpFactory:
    """What the worker takes: one httpx.Client per key, over the in-process transport."""

    def build(api_key: str) -> httpx.Client:
        return httpx.Client(
            base_url=BASE_URL,
            headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
            transport=transport,
        )

    return build  # httpx.Client is its own context manager; closing it leaves the transport
