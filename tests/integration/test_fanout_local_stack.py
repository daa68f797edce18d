"""The fan-out on the local stack: the dispatcher's and the worker's Lambda handlers, the work
queue and its dead-letter queue on a moto server, the sandbox API over HTTP."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest

from leadlex_exporter.dispatcher import lambda_handler as dispatcher_handler
from leadlex_exporter.worker import lambda_handler as worker_handler
from scripts.event_source import EventSource, LambdaContext
from tests.conftest import WORK_MAX_RECEIVES, Stack
from tests.integration.conftest import FakeContext, Sandbox, scheduled_event

KEYS = {"acme": "wbk_fanA_" + "a" * 44, "beta-co": "wbk_fanB_" + "b" * 44}


def seed(sandbox: Sandbox) -> None:
    world = sandbox.world
    for number, (name, key) in enumerate(KEYS.items()):
        world.add_workspace(name, api_key=key, plan="pro")
        world.add_campaign(name, f"cmp_{name}", status="active")
        end = world.clock.now() - timedelta(minutes=6)
        world.bulk_events(f"cmp_{name}", 150, end - timedelta(days=1), end, seed=number + 5)


def configure(stack: Stack, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in stack.env(LEADLEX_API_URL=sandbox.url).items():
        monkeypatch.setenv(name, value)


def depth(stack: Stack, url: str) -> int:
    attributes = stack.session.client("sqs").get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def test_a_tick_runs_each_key_in_its_own_worker_invocation(live_stack, sandbox, monkeypatch):
    seed(sandbox)
    live_stack.put_secret({"workspaces": [{"name": n, "api_key": k} for n, k in KEYS.items()]})
    configure(live_stack, sandbox, monkeypatch)

    dispatched = dispatcher_handler(scheduled_event(), FakeContext(60))
    source = EventSource(live_stack.session.client("sqs"), live_stack.work_queue_url)
    handed = source.drain(worker_handler, LambdaContext)

    assert dispatched["status"] == "ok"
    assert handed == 2  # one invocation per key, BatchSize 1
    assert source.responses == [{"batchItemFailures": []}] * 2
    assert depth(live_stack, live_stack.work_queue_url) == 0
    records = live_stack.records()
    assert {r["workspace"] for _, r in records} == set(KEYS)
    assert len({r["id"] for _, r in records}) == len(records) == 300
    notified = live_stack.messages()
    assert {json.loads(m["Body"])["workspace"] for m in notified} == set(KEYS)
    assert not [i for i in live_stack.items() if "lease_owner" in i]  # every lease let go


def test_a_poison_item_reaches_the_dead_letter_queue_after_max_receives(
    live_stack, sandbox, monkeypatch
):
    configure(live_stack, sandbox, monkeypatch)
    sqs = live_stack.session.client("sqs")
    # A short visibility timeout, so the failed item comes back within the test.
    sqs.set_queue_attributes(
        QueueUrl=live_stack.work_queue_url, Attributes={"VisibilityTimeout": "1"}
    )
    sqs.send_message(QueueUrl=live_stack.work_queue_url, MessageBody='{"fingerprint": 7}')
    source = EventSource(sqs, live_stack.work_queue_url)

    for _ in range(30):
        source.drain(worker_handler, LambdaContext)
        if depth(live_stack, live_stack.work_dlq_url):
            break
        time.sleep(0.5)

    failures = [r for r in source.responses if r["batchItemFailures"]]
    assert len(failures) == WORK_MAX_RECEIVES == len(source.responses)
    (dead,) = sqs.receive_message(QueueUrl=live_stack.work_dlq_url)["Messages"]
    assert dead["Body"] == '{"fingerprint": 7}'
    assert depth(live_stack, live_stack.work_queue_url) == 0
