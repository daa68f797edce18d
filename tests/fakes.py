"""Test doubles: a fake clock and a LeadLex API behind httpx.MockTransport."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import unquote

import httpx

from leadlex_exporter.timestamps import parse_timestamp


class FakeClock:
    def __init__(self, start: datetime | None = None):
        self.current = start or datetime(2026, 11, 20, 12, 0, 0, tzinfo=UTC)
        self.slept: list[float] = []

    def now(self) -> datetime:
        return self.current

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.current += timedelta(seconds=max(0.0, seconds))

    def advance(self, **kwargs: float) -> None:
        self.current += timedelta(**kwargs)


@dataclass
class FakeLeadLex:
    """Documented behaviour only: newest first, inclusive dates, meta.total, error bodies."""

    clock: FakeClock
    keys: dict[str, str] = field(default_factory=dict)  # api key -> workspace
    campaigns: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # ws -> campaigns
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # campaign -> events
    visible_at: dict[str, datetime] = field(default_factory=dict)  # event id -> first visible
    calls: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    failures: list[httpx.Response | Exception] = field(default_factory=list)
    daily_limit: int = 10_000
    used: int = 0
    day: int = 0
    refused: list[datetime] = field(default_factory=list)  # 429s for a spent daily quota
    before_request: list[Any] = field(default_factory=list)  # callables(path, query)
    api_clock_offset: float | None = None  # seconds the API's clock (Date header) is ahead

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def client(self, api_key: str) -> httpx.Client:
        return httpx.Client(
            base_url="https://api.test/functions/v1/api-gateway",
            headers={"Authorization": f"Bearer {api_key}"},
            transport=self.transport(),
        )

    def handle(self, request: httpx.Request) -> httpx.Response:
        query = dict(request.url.params)
        self.calls.append((request.url.path, query))
        for hook in self.before_request:
            hook(request.url.path, query)
        if self.failures:
            failure = self.failures.pop(0)
            if isinstance(failure, Exception):
                raise failure
            return failure
        workspace = self.keys.get(request.headers.get("authorization", "")[7:])
        if workspace is None:
            return _error(401, "invalid_key")
        today = int(self.clock.now().timestamp() // 86_400)
        if today != self.day:
            self.day, self.used = today, 0
        if self.used >= self.daily_limit:
            self.refused.append(self.clock.now())
            return _error(
                429,
                "rate_limited",
                {
                    "X-RateLimit-Limit": str(self.daily_limit),
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": str(_next_midnight(self.clock.now())),
                },
            )
        self.used += 1
        headers = {
            "X-RateLimit-Limit": str(self.daily_limit),
            "X-RateLimit-Remaining": str(max(0, self.daily_limit - self.used)),
            "X-RateLimit-Reset": str(_next_midnight(self.clock.now())),
            "X-Request-ID": f"req-{len(self.calls)}",
        }
        if self.api_clock_offset is not None:
            served = self.clock.now() + timedelta(seconds=self.api_clock_offset)
            headers["Date"] = format_datetime(served, usegmt=True)
        path = request.url.path.split("/api-gateway", 1)[1]
        if path == "/v1/campaigns":
            items = self.campaigns.get(workspace, [])
            return _page(items, "campaigns", query, headers)
        campaign_id = unquote(request.url.raw_path.decode().split("/campaigns/")[1].split("/")[0])
        if campaign_id not in {c["id"] for c in self.campaigns.get(workspace, [])}:
            return _error(404, "campaign_not_found", headers)
        return _page(self._visible(campaign_id, query), "events", query, headers)

    def _visible(self, campaign_id: str, query: dict[str, str]) -> list[dict[str, Any]]:
        lo, hi = parse_timestamp(query.get("from_date")), parse_timestamp(query.get("to_date"))
        now = self.clock.now()
        rows = []
        for event in self.events.get(campaign_id, []):
            instant = parse_timestamp(event.get("timestamp")) or now
            if self.visible_at.get(str(event.get("id")), instant) > now:
                continue
            if (lo and instant < lo) or (hi and instant > hi):
                continue
            rows.append((instant, str(event.get("id")), event))
        rows.sort(key=lambda r: (r[0], r[1]), reverse=True)
        return [r[2] for r in rows]


def _page(
    items: list[dict[str, Any]], name: str, query: dict[str, str], headers: dict[str, str]
) -> httpx.Response:
    page, per_page = int(query.get("page", 1)), int(query.get("per_page", 50))
    chunk = items[(page - 1) * per_page : page * per_page]
    body = {
        "data": {name: chunk},
        "meta": {"page": page, "per_page": per_page, "total": len(items)},
    }
    # ASCII JSON, as an API sends a lone surrogate: an escape (httpx's json= cannot encode one)
    content = json.dumps(body).encode()
    return httpx.Response(
        200, content=content, headers={**headers, "content-type": "application/json"}
    )


def _error(status: int, code: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(
        status, json={"error": {"code": code, "message": code}}, headers=headers or {}
    )


def _next_midnight(now: datetime) -> int:
    return int(math.floor(now.timestamp() / 86_400) + 1) * 86_400


def make_events(
    campaign: str,
    count: int,
    end: datetime,
    spacing_seconds: float = 60.0,
    types: tuple[str, ...] = ("sent", "opened", "clicked", "replied"),
) -> list[dict]:
    events = []
    for i in range(count):
        instant = end - timedelta(seconds=spacing_seconds * i)
        events.append(
            {
                "id": f"evt_{campaign}_{i:06d}",
                "type": types[i % len(types)],
                "contact_id": f"c-{i % 37}",
                "email": f"person{i % 37}@example.com",
                "step_id": f"step_{1 + i % 3}",
                "timestamp": instant.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "metadata": {"n": i},
            }
        )
    return events


def dumps(value: Any) -> str:
    return json.dumps(value)
