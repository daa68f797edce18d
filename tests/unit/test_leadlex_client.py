"""The API client: retries what can succeed later, never what cannot, and keeps the key secret."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from leadlex_exporter.clock import Deadline
from leadlex_exporter.errors import (
    AuthenticationError,
    CampaignNotFoundError,
    OutOfTimeError,
    PermissionDeniedError,
    QuotaExhaustedError,
    UnavailableError,
)
from leadlex_exporter.leadlex import LeadLexClient, clock_skew, decode, path_segment
from leadlex_exporter.quota import Purpose, QuotaGuard, QuotaState
from tests.fakes import FakeClock

KEY = "wbk_secret_" + "k" * 40
OK = {
    "data": {"events": [{"id": "evt_1", "timestamp": "2026-11-20T11:00:00Z"}]},
    "meta": {"page": 1, "per_page": 100, "total": 1},
}
LIMITS = {
    "X-RateLimit-Limit": "1000",
    "X-RateLimit-Remaining": "900",
    "X-RateLimit-Reset": "1795910400",
    "X-Request-ID": "req-7",
}


def client_for(
    responses: list, clock: FakeClock, seconds: float = 600, state: QuotaState | None = None
) -> tuple[LeadLexClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        item = responses.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    http = httpx.Client(
        base_url="https://api.test/functions/v1/api-gateway",
        headers={"Authorization": f"Bearer {KEY}"},
        transport=httpx.MockTransport(handle),
    )
    guard = QuotaGuard(
        state or QuotaState(),
        clock,
        reserve_percent=10,
        fresh_reserve_percent=20,
        max_calls_per_minute=1000,
    )
    deadline = Deadline(clock, clock.now() + timedelta(seconds=seconds), 5)
    return LeadLexClient(http, guard, deadline, jitter=lambda: 0.5), seen


def page(status: int = 200, body: object = OK, headers: dict | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers={**LIMITS, **(headers or {})})


def fetch(client: LeadLexClient):
    return client.events_page("cmp/1 x", 1, None, "2026-11-20T12:00:00Z", Purpose.FRESH)


def test_rate_limited_with_retry_after_waits_that_long_then_succeeds(clock):
    client, seen = client_for([page(429, {}, {"Retry-After": "7"}), page()], clock)
    assert fetch(client).events[0]["id"] == "evt_1"
    assert clock.slept == [7.0]
    assert len(seen) == 2


def test_rate_limited_without_retry_after_waits_out_the_minute_window(clock):
    # Pacing (quota left), no Retry-After: the per-minute window is what refused the call, so
    # each retry waits it out instead of spending calls on a short backoff.
    client, seen = client_for([page(429, {}), page(429, {}), page()], clock, seconds=900)
    assert fetch(client).total == 1
    assert len(seen) == 3
    assert len(clock.slept) == 2
    assert all(60.0 <= s <= 75.0 for s in clock.slept), clock.slept


def test_a_minute_window_longer_than_the_run_has_left_stops_this_key(clock):
    client, seen = client_for([page(429, {}), page()], clock, seconds=50)
    with pytest.raises(QuotaExhaustedError):
        fetch(client)
    assert len(seen) == 1
    assert clock.slept == []


@pytest.mark.parametrize(
    "failure",
    [
        page(503, {"error": {"code": "unavailable"}}),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.ReadTimeout("timed out"),
        httpx.Response(200, text="<html>Bad gateway</html>", headers=LIMITS),
        httpx.Response(200, content=b'{"data": {"events": [{"id": "evt', headers=LIMITS),
    ],
)
def test_transient_failures_are_retried(clock, failure):
    client, seen = client_for([failure, page()], clock)
    assert fetch(client).events
    assert len(seen) == 2


def test_persistent_5xx_gives_up_with_unavailable(clock):
    client, seen = client_for([page(500, {})] * 6, clock)
    with pytest.raises(UnavailableError):
        fetch(client)
    assert len(seen) == 6


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (401, "invalid_key", AuthenticationError),
        (403, "insufficient_permissions", PermissionDeniedError),
        (404, "campaign_not_found", CampaignNotFoundError),
    ],
)
def test_client_errors_are_not_retried_and_never_show_the_key(clock, status, code, error):
    client, seen = client_for([page(status, {"error": {"code": code, "message": KEY}})], clock)
    with pytest.raises(error) as caught:
        fetch(client)
    assert len(seen) == 1
    assert code in str(caught.value)
    assert "req-7" in str(caught.value)
    assert KEY not in str(caught.value)
    assert "wbk_" not in repr(caught.value)


def test_campaign_id_is_one_encoded_path_segment(clock):
    client, seen = client_for([page()], clock)
    fetch(client)
    assert seen[0].url.raw_path.startswith(b"/functions/v1/api-gateway/v1/campaigns/cmp%2F1%20x/")


def test_daily_quota_spent_stops_without_retrying_and_is_remembered(clock):
    spent = page(429, {"error": {"code": "rate_limited"}}, {"X-RateLimit-Remaining": "0"})
    client, seen = client_for([spent], clock)
    with pytest.raises(QuotaExhaustedError) as caught:
        fetch(client)
    assert caught.value.reset_at == 1795910400
    assert len(seen) == 1
    assert client.quota.state.exhausted
    assert not client.quota.allows(Purpose.FRESH)


def test_no_call_while_the_quota_is_known_spent_until_reset(clock):
    reset = clock.now() + timedelta(hours=3)
    state = QuotaState(limit=100, remaining=0, reset_at=reset.timestamp(), exhausted=True)
    client, seen = client_for([page()], clock, seconds=4 * 3600, state=state)
    with pytest.raises(QuotaExhaustedError):
        fetch(client)
    assert seen == []
    clock.advance(hours=3)
    assert fetch(client).events
    assert len(seen) == 1


def test_backfill_stops_at_reserve_plus_fresh_share_fresh_at_reserve(clock):
    state = QuotaState(limit=100, remaining=25, reset_at=clock.now().timestamp() + 3600)
    client, _ = client_for(
        [page(headers={"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "11"})],
        clock,
        state=state,
    )
    assert not client.quota.allows(Purpose.BACKFILL)  # 25 <= 10 + 20
    assert client.quota.allows(Purpose.FRESH)
    fetch(client)
    assert not client.quota.allows(Purpose.FRESH) or client.quota.state.remaining > 10


def test_a_retry_after_longer_than_the_run_has_left_stops_this_key_without_sleeping(clock):
    client, _ = client_for([page(429, {}, {"Retry-After": "120"}), page()], clock, seconds=60)
    with pytest.raises(QuotaExhaustedError):
        fetch(client)
    assert clock.slept == []
    assert client.quota.allows(Purpose.FRESH)  # pacing, not a spent day


def test_backoff_past_the_deadline_stops_the_run(clock):
    # 0.9 s left, less its margin (a quarter of it): the 0.75 s backoff does not fit
    client, _ = client_for([page(503, {}), page()], clock, seconds=0.9)
    with pytest.raises(OutOfTimeError):
        fetch(client)


def test_calls_are_paced_below_the_per_minute_limit(clock):
    starter = {"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "90"}
    client, seen = client_for([page(headers=starter) for _ in range(12)], clock)
    client.quota.max_calls_per_minute = 0  # inferred: Starter allows 10/min, paced at 8
    for _ in range(12):
        fetch(client)
    assert len(seen) == 12
    assert sum(clock.slept) >= 59


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"a":[1,2.5,"x",null,true]}', {"a": [1, 2.5, "x", None, True]}),
        (b'{"id":"\\ud800"}', {"id": "\ud800"}),  # a lone surrogate: valid JSON, orjson refuses
        (b'{"n":123456789012345678901234567890}', {"n": 123456789012345678901234567890}),
        (b'{"n":18446744073709551616}', {"n": 18446744073709551616}),  # 2**64
        (
            b'{"n":-9223372036854775809,"m":9223372036854775807}',
            {"n": -(2**63) - 1, "m": 2**63 - 1},
        ),
        (b'{"x":1e400,"y":0.1,"z":-0}', {"x": float("inf"), "y": 0.1, "z": 0}),
        (b'{"x":NaN}', {"x": float("nan")}),
        (b'\xef\xbb\xbf{"bom":1}', {"bom": 1}),
    ],
)
def test_bodies_are_read_as_the_json_module_reads_them(body, expected):
    got = decode(body)
    assert repr(got) == repr(expected)
    assert repr(got) == repr(json.loads(body))


@pytest.mark.parametrize("body", [b"", b"<html>", b'{"a":', b'{"a":"\xff"}'])
def test_malformed_bodies_are_value_errors(body):
    with pytest.raises(ValueError):  # noqa: PT011 - what _get turns into "malformed page"
        decode(body)


def test_the_api_clock_is_read_from_the_first_page_served(clock):
    ahead = format_datetime(clock.now() + timedelta(seconds=300), usegmt=True)
    behind = format_datetime(clock.now() - timedelta(seconds=90), usegmt=True)
    client, _ = client_for(
        [
            page(500, headers={"Date": behind}),  # not a page: not read
            page(headers={"Date": ahead}),
            page(headers={"Date": behind}),
        ],
        clock,
    )
    assert client.clock_skew is None
    fetch(client)
    assert client.clock_skew == pytest.approx(300, abs=1)
    fetch(client)
    assert client.clock_skew == pytest.approx(300, abs=1), "the first page's header counts"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Fri, 20 Nov 2026 12:05:00 GMT", 300.0),
        ("Fri, 20 Nov 2026 12:05:00 -0000", 300.0),  # UTC, no zone claimed
        ("Fri, 20 Nov 2026 12:58:30 +0100", -90.0),
        (None, None),
        ("", None),
        ("yesterday", None),
        ("Fri, 99 Nov 2026 12:05:00 GMT", None),
    ],
)
def test_clock_skew_from_a_date_header(header, expected):
    now = datetime(2026, 11, 20, 12, 0, 0, tzinfo=UTC)
    assert clock_skew(header, now) == expected


@pytest.mark.parametrize(
    ("campaign_id", "from_date"),
    [
        ("cmp_1", None),
        ("cmp_1", "2026-11-01T00:00:00Z"),
        ("a b/../?#&=+%ü", "2026-11-01T00:00:00Z"),
        ("..", None),
    ],
)
def test_the_url_sent_is_the_one_httpx_builds_from_path_and_params(campaign_id, from_date):
    sent: list[httpx.URL] = []

    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(request.url)
        if request.url.path.endswith("/campaigns"):
            body = {"data": {"campaigns": [{"id": "cmp_1"}]}, "meta": {"total": 1}}
            return httpx.Response(200, json=body, headers=LIMITS)
        return httpx.Response(200, json=OK, headers=LIMITS)

    http = httpx.Client(
        base_url="https://api.test/functions/v1/api-gateway", transport=httpx.MockTransport(handle)
    )
    guard = QuotaGuard(QuotaState(), FakeClock(), reserve_percent=10, fresh_reserve_percent=20)
    client = LeadLexClient(
        http, guard, Deadline(FakeClock(), FakeClock().now() + timedelta(hours=1), 5)
    )
    client.events_page(campaign_id, 3, from_date, "2026-11-20T12:00:00Z", Purpose.BACKFILL)
    list(client.list_campaigns())

    params = {"page": 3, "per_page": 100, "to_date": "2026-11-20T12:00:00Z"}
    if from_date is not None:
        params["from_date"] = from_date
    segment = path_segment(campaign_id)
    expected = [
        http.build_request("GET", f"/v1/campaigns/{segment}/events", params=params).url,
        http.build_request("GET", "/v1/campaigns", params={"page": 1, "per_page": 100}).url,
    ]
    assert [str(u) for u in sent] == [str(u) for u in expected]
    assert [u.raw_path for u in sent] == [u.raw_path for u in expected]


def test_a_quota_at_its_reserve_without_a_reset_header_rolls_over_at_the_next_utc_midnight(
    clock,
):
    # 5 of 100 left (under the 10% reserve) and no X-RateLimit-Reset: without a reset time the
    # guard would refuse every call from now on.
    no_reset = {"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "5", "X-Request-ID": "r"}
    low = httpx.Response(200, json=OK, headers=no_reset)
    client, seen = client_for([low, page()], clock, seconds=30 * 3600)

    assert fetch(client).events
    assert not client.quota.allows(Purpose.FRESH)

    now = clock.now()
    midnight = datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1)
    assert client.quota.state.reset_at == midnight.timestamp()
    clock.advance(seconds=(midnight - now).total_seconds() - 1)
    assert not client.quota.allows(Purpose.FRESH), "not before midnight"
    clock.advance(seconds=1)
    assert client.quota.allows(Purpose.FRESH), "stalled past midnight"
    assert fetch(client).events
    assert len(seen) == 2
