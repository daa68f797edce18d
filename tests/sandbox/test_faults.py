"""Injected faults: each kind, how many requests it hits, which paths, and what it costs."""

from __future__ import annotations

import time

import httpx
import pytest
from leadlex_sandbox import World

from tests.sandbox.helpers import CAMPAIGN, MakeEvent, ids_of

EVENTS = f"/v1/campaigns/{CAMPAIGN}/events"


def _remaining(response: httpx.Response) -> int:
    return int(response.headers["X-RateLimit-Remaining"])


@pytest.mark.parametrize("status", [500, 502, 503])
def test_status_fault_answers_once_with_that_status(
    world: World, api: httpx.Client, status: int
) -> None:
    world.faults.add(kind="status", status=status)

    faulted, healthy = api.get(EVENTS), api.get(EVENTS)

    assert faulted.status_code == status
    assert "code" in faulted.json()["error"]
    assert faulted.headers["X-Request-ID"]
    assert healthy.status_code == 200
    assert _remaining(faulted) == _remaining(healthy) + 1  # the fault cost nothing


def test_rate_limit_fault_keeps_quota_and_optional_retry_after(
    world: World, api: httpx.Client
) -> None:
    world.faults.add(kind="rate_limit", retry_after=7)
    world.faults.add(kind="rate_limit")

    with_header, without_header = api.get(EVENTS), api.get(EVENTS)

    assert with_header.status_code == without_header.status_code == 429
    assert with_header.json()["error"]["code"] == "rate_limited"
    assert with_header.headers["Retry-After"] == "7"
    assert "Retry-After" not in without_header.headers
    assert _remaining(without_header) > 0


def test_drop_closes_the_connection_without_an_answer(world: World, api: httpx.Client) -> None:
    world.faults.add(kind="drop")

    with pytest.raises(httpx.RemoteProtocolError):
        api.get(EVENTS)
    assert api.get(EVENTS).status_code == 200
    assert world.stats()["calls"][0]["status"] is None


def test_truncate_sends_half_a_json_body(
    world: World, api: httpx.Client, make_event: MakeEvent
) -> None:
    world.add_events(CAMPAIGN, [make_event("2026-04-17T10:00:00Z")])
    whole = api.get(EVENTS).content
    world.faults.add(kind="truncate")

    cut = api.get(EVENTS)

    assert cut.status_code == 200
    assert cut.headers["Content-Type"] == "application/json"
    assert cut.content == whole[: len(whole) // 2]
    with pytest.raises(ValueError, match="Unterminated|Expecting"):
        cut.json()


def test_nonjson_sends_a_200_html_page(world: World, api: httpx.Client) -> None:
    world.faults.add(kind="nonjson")

    page = api.get(EVENTS)

    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert page.text.lstrip().startswith("<!DOCTYPE html>")


def test_slow_waits_then_answers_normally(world: World, api: httpx.Client) -> None:
    world.faults.add(kind="slow", seconds=0.3)

    started = time.monotonic()
    response = api.get(EVENTS)

    assert time.monotonic() - started >= 0.3
    assert response.status_code == 200


def test_count_and_path_regex_choose_the_requests(world: World, api: httpx.Client) -> None:
    world.faults.add(kind="status", status=500, count=2, path_regex=r"/events$")

    answers = [api.get("/v1/campaigns"), api.get(EVENTS), api.get(EVENTS), api.get(EVENTS)]

    assert [a.status_code for a in answers] == [200, 500, 500, 200]
    assert [c.get("fault") for c in world.stats()["calls"]] == [None, "status", "status", None]


def test_probability_faults_are_seeded(api: httpx.Client, world: World) -> None:
    world.faults.add(kind="status", status=503, count=None, probability=0.5)

    statuses = [api.get(EVENTS).status_code for _ in range(40)]

    assert 5 < statuses.count(503) < 35
    assert set(statuses) == {200, 503}
    replay = World(fault_seed=0).faults
    replay.add(kind="status", status=503, count=None, probability=0.5)
    assert [503 if replay.take("/x") else 200 for _ in range(40)] == statuses


def test_faults_do_not_hide_events(world: World, api: httpx.Client, make_event: MakeEvent) -> None:
    world.add_events(CAMPAIGN, [make_event("2026-04-17T10:00:00Z", id="evt_kept")])
    world.faults.add(kind="drop")

    with pytest.raises(httpx.RemoteProtocolError):
        api.get(EVENTS)
    assert ids_of(api.get(EVENTS)) == ["evt_kept"]
