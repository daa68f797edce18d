"""Daily quota headers, daily and per-minute 429s, and the reset at 00:00 UTC (sandbox clock)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from leadlex_sandbox import Clock, SandboxServer, World

from tests.sandbox.helpers import CAMPAIGN, bearer

EVENTS = f"/v1/campaigns/{CAMPAIGN}/events"
KEY = "wbk_limited_key"


@pytest.fixture
def limited(world: World, server: SandboxServer) -> Iterator[httpx.Client]:
    """A starter workspace whose daily quota is 5 calls (10 per minute from the plan)."""
    world.add_workspace("small", api_key=KEY, plan="starter", daily_limit=5)
    world.add_campaign("small", "cmp_small")
    with httpx.Client(base_url=server.base_url, headers=bearer(KEY), timeout=10) as client:
        yield client


def _midnight_after(moment: datetime) -> datetime:
    return datetime.combine(moment.date() + timedelta(days=1), datetime.min.time(), tzinfo=UTC)


def _start_of_next_minute(clock: Clock) -> None:
    """Leave a whole fixed window ahead, so a burst cannot straddle two windows."""
    now = clock.now()
    clock.move_to(now.replace(second=0, microsecond=0) + timedelta(minutes=1, seconds=1))


def test_every_answer_carries_the_daily_quota_headers(clock: Clock, api: httpx.Client) -> None:
    first = api.get(EVENTS)
    second = api.get("/v1/campaigns/cmp_missing/events")

    assert first.headers["X-RateLimit-Limit"] == "10000"
    assert first.headers["X-RateLimit-Remaining"] == "9999"
    assert second.headers["X-RateLimit-Remaining"] == "9998"  # a 404 still costs a call
    assert int(first.headers["X-RateLimit-Reset"]) == _midnight_after(clock.now()).timestamp()
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]


def test_plan_defaults_apply(world: World) -> None:
    pro = world.add_workspace("pro-ws", api_key="wbk_pro")
    starter = world.add_workspace("starter-ws", api_key="wbk_starter", plan="starter")

    assert (pro.daily_limit, pro.per_minute_limit) == (1000, 50)
    assert (starter.daily_limit, starter.per_minute_limit) == (100, 10)


def test_spent_daily_quota_gets_429_until_midnight(clock: Clock, limited: httpx.Client) -> None:
    midnight = _midnight_after(clock.now())
    clock.move_to(midnight - timedelta(seconds=40))
    answers = [limited.get("/v1/campaigns") for _ in range(6)]

    refused = answers[-1]
    assert [a.status_code for a in answers] == [200] * 5 + [429]
    assert refused.json()["error"]["code"] == "rate_limited"
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert 1 <= int(refused.headers["Retry-After"]) <= 40

    clock.advance(60)
    after = limited.get("/v1/campaigns")

    assert after.status_code == 200
    assert after.headers["X-RateLimit-Remaining"] == "4"
    assert int(after.headers["X-RateLimit-Reset"]) == (midnight + timedelta(days=1)).timestamp()


def test_per_minute_limit_gets_429_with_quota_left(
    world: World, clock: Clock, limited: httpx.Client
) -> None:
    world.add_workspace("burst", api_key="wbk_burst", plan="starter", per_minute_limit=3)
    _start_of_next_minute(clock)
    answers = [limited.get("/v1/campaigns", headers=bearer("wbk_burst")) for _ in range(4)]

    refused = answers[-1]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert refused.headers["X-RateLimit-Remaining"] == "97"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60

    clock.advance(60)
    assert limited.get("/v1/campaigns", headers=bearer("wbk_burst")).status_code == 200


def test_refused_and_unauthenticated_calls_cost_nothing(
    world: World, clock: Clock, anonymous: httpx.Client
) -> None:
    tiny = world.add_workspace("tiny", api_key="wbk_tiny", daily_limit=3, per_minute_limit=2)
    _start_of_next_minute(clock)
    tiny.revoked = True
    revoked = anonymous.get("/v1/campaigns", headers=bearer("wbk_tiny"))
    tiny.revoked = False

    burst = [anonymous.get("/v1/campaigns", headers=bearer("wbk_tiny")) for _ in range(3)]
    clock.advance(60)
    later = [anonymous.get("/v1/campaigns", headers=bearer("wbk_tiny")) for _ in range(2)]

    assert revoked.status_code == 401
    assert [a.status_code for a in burst + later] == [200, 200, 429, 200, 429]
    assert [a.headers["X-RateLimit-Remaining"] for a in burst + later] == ["2", "1", "1", "0", "0"]


def test_retry_after_can_be_switched_off(world: World, clock: Clock, limited: httpx.Client) -> None:
    world.faults.add("omit_retry_after")
    clock.move_to(_midnight_after(clock.now()) - timedelta(minutes=5))
    answers = [limited.get("/v1/campaigns") for _ in range(7)]

    assert [a.status_code for a in answers] == [200] * 5 + [429, 429]
    assert "Retry-After" not in answers[5].headers
    assert "Retry-After" in answers[6].headers
