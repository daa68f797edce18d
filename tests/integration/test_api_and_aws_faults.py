"""LeadLex misbehaving over real HTTP, AWS throttling: retried, and nothing lost or doubled."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import timedelta

import pytest
from botocore.awsrequest import AWSResponse

from tests.integration.conftest import invoke

KEY = "wbk_faults_" + "f" * 47


def seed(sandbox, events: int = 450):
    world = sandbox.world
    world.add_workspace("acme", api_key=KEY, plan="org")
    for number, campaign in enumerate(("cmp_a", "cmp_b")):
        world.add_campaign("acme", campaign, status="active")
        end = world.clock.now() - timedelta(minutes=6)
        world.bulk_events(campaign, events, end - timedelta(days=2), end, seed=number + 11)
    return world.clock.now()


def check(stack, sandbox, start) -> None:
    ids = Counter(r["id"] for _, r in stack.records())
    assert max(ids.values()) == 1
    for campaign in ("cmp_a", "cmp_b"):
        assert set(sandbox.truth(campaign, start - timedelta(minutes=5))) <= set(ids), campaign


@pytest.mark.parametrize(
    ("kind", "extra"),
    [
        ("status", {"status": 503}),
        ("status", {"status": 500}),
        ("rate_limit", {"retry_after": 1}),
        ("omit_retry_after", {}),
        ("drop", {}),
        ("truncate", {}),
        ("nonjson", {}),
        ("slow", {"seconds": 0.3}),
    ],
)
def test_api_faults_are_retried_without_loss_or_duplicates(
    live_stack, sandbox, monkeypatch, kind, extra
):
    start = seed(sandbox)
    live_stack.put_secret({"workspaces": [{"name": "acme", "api_key": KEY}]})
    if kind == "omit_retry_after":
        sandbox.world.faults.add("omit_retry_after", count=None)
        sandbox.world.faults.add("rate_limit", count=2, path_regex="/events")
    else:
        sandbox.world.faults.add(kind, count=2, path_regex="/events", **extra)

    # a 429 without Retry-After waits out the per-minute window: 60 s, 1 s here
    result = invoke(
        live_stack, sandbox, monkeypatch, HTTP_TIMEOUT_SECONDS="5", RATE_LIMIT_WAIT_SECONDS="1"
    )

    assert result["status"] == "ok", result
    check(live_stack, sandbox, start)


def test_random_faults_on_many_calls_still_end_exactly_once(live_stack, sandbox, monkeypatch):
    start = seed(sandbox, events=900)
    live_stack.put_secret({"workspaces": [{"name": "acme", "api_key": KEY}]})
    for kind, extra in [
        ("status", {"status": 502}),
        ("drop", {}),
        ("truncate", {}),
        ("rate_limit", {"retry_after": 0}),
    ]:
        sandbox.world.faults.add(kind, count=None, probability=0.07, **extra)

    results = [invoke(live_stack, sandbox, monkeypatch, BATCH_MAX_EVENTS="300") for _ in range(2)]

    assert results[-1]["status"] == "ok", results
    check(live_stack, sandbox, start)


def test_events_inserted_while_paging_shift_pages_but_nothing_is_lost(
    live_stack, sandbox, monkeypatch
):
    seed(sandbox)
    live_stack.put_secret({"workspaces": [{"name": "acme", "api_key": KEY}]})
    world = sandbox.world
    inserted: list[str] = []

    def insert_on_later_pages(path: str, query: dict, call_index: int) -> None:
        if path.endswith("/events") and query.get("page") not in (None, "1"):
            now = world.clock.now()
            event = {
                "id": f"evt_shift_{len(inserted)}",
                "type": "clicked",
                "timestamp": (now - timedelta(seconds=30 + len(inserted))).strftime(
                    "%Y-%m-%dT%H:%M:%SZ"
                ),
                "metadata": {"url": "https://x.test"},
            }
            inserted.append(event["id"])
            world.add_events(path.split("/")[-2], [event])

    world.on_request(insert_on_later_pages)
    invoke(live_stack, sandbox, monkeypatch)
    time.sleep(1.1)  # windows end on whole seconds: the next tick is a later one
    start_second = world.clock.now()
    invoke(live_stack, sandbox, monkeypatch)

    assert inserted, "no page was shifted"
    check(live_stack, sandbox, start_second)
    ids = {r["id"] for _, r in live_stack.records()}
    assert set(inserted) <= ids


class _Raw:
    def __init__(self, body: bytes):
        self._body = body

    def stream(self, **_: object):
        yield self._body


def failing(service_error: dict[str, tuple[int, bytes]], times: int):
    """A before-send hook answering the first `times` calls of each operation with an error."""
    seen: Counter = Counter()

    def hook(request, **kwargs):
        operation = kwargs.get("event_name", "").split(".")[-1]
        for name, (status, body) in service_error.items():
            if name in request.url or name == operation:
                seen[name] += 1
                if seen[name] <= times:
                    headers = {
                        "Content-Type": "application/x-amz-json-1.0",
                        "x-amzn-RequestId": "fault",
                    }
                    return AWSResponse(request.url, status, headers, _Raw(body))
        return None

    return hook, seen


def test_s3_slowdown_dynamodb_throttling_and_sqs_500s_are_retried(live_stack, sandbox, monkeypatch):
    import boto3

    from leadlex_exporter.clock import SystemClock
    from leadlex_exporter.key_export import KeyExport
    from leadlex_exporter.settings import Settings
    from scripts.event_source import local_tick

    start = seed(sandbox)
    live_stack.put_secret({"workspaces": [{"name": "acme", "api_key": KEY}]})
    session = boto3.session.Session()
    throttled = json.dumps(
        {
            "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
            "message": "slow",
        }
    ).encode()
    hook, seen = failing(
        {
            "leadlex-export-test": (
                503,
                b"<Error><Code>SlowDown</Code><Message>x</Message></Error>",
            ),
            "dynamodb": (400, throttled),
            "sqs": (500, b'{"__type": "InternalError", "message": "boom"}'),
        },
        times=2,
    )
    session.events.register("before-send", hook)
    settings = Settings.from_env(live_stack.env(LEADLEX_API_URL=sandbox.url))
    clock = SystemClock()

    result = local_tick(settings, clock, session, KeyExport(settings, clock, session), 600)

    assert result["status"] == "ok", result
    assert all(seen[name] > 2 for name in seen), seen
    check(live_stack, sandbox, start)
