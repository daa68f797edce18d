"""Given keys in the secret, when a tick runs, then one work item per key reaches a worker that
exports that key alone, under the key's lease, and reports failed items back to the queue."""

from __future__ import annotations

import json
from contextlib import nullcontext
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from leadlex_exporter.dispatcher import dispatch
from leadlex_exporter.key_export import KeyExport
from leadlex_exporter.key_lease import KeyLease
from leadlex_exporter.settings import Settings
from leadlex_exporter.worker import process_batch
from leadlex_exporter.workspaces import Workspace
from scripts.event_source import EventSource, LambdaContext, Recorder
from tests.conftest import REGION, TABLE, Stack
from tests.fakes import FakeClock, FakeLeadLex, make_events

ROOT = Path(__file__).resolve().parents[2]
KEY_A = "wbk_" + "a" * 52
KEY_B = "wbk_" + "b" * 52


def given_two_keys(stack: Stack, api: FakeLeadLex, clock: FakeClock) -> None:
    """acme and acme-eu share key A (each with its own campaign); beta-co has key B."""
    api.keys.update({KEY_A: "acme", KEY_B: "beta-co"})
    api.campaigns["acme"] = [{"id": "cmp_a1", "status": "active"}, {"id": "cmp_a2"}]
    api.campaigns["beta-co"] = [{"id": "cmp_b1", "status": "active"}]
    for campaign in ("cmp_a1", "cmp_a2", "cmp_b1"):
        api.events[campaign] = make_events(campaign, 30, clock.now() - timedelta(minutes=6))
    stack.put_secret(
        {
            "workspaces": [
                {"name": "acme", "api_key": KEY_A, "campaigns": ["cmp_a1"]},
                {"name": "beta-co", "api_key": KEY_B},
                {"name": "acme-eu", "api_key": KEY_A, "campaigns": ["cmp_a2"]},
                {"name": "broken", "api_key": "not-a-key"},
            ]
        }
    )


def settings_of(stack: Stack) -> Settings:
    return Settings.from_env(stack.env())


def platform() -> boto3.session.Session:
    """The dispatcher's and the event source's session (other processes on AWS)."""
    return boto3.session.Session(region_name=REGION)


def worker_export(stack: Stack, clock: FakeClock, api: FakeLeadLex) -> Recorder:
    export = KeyExport(
        settings_of(stack), clock, stack.session, lambda key: nullcontext(api.client(key))
    )
    return Recorder(export)


def worker(recorder: Recorder) -> Any:
    return lambda event, context: process_batch(event, context, recorder)


def work_bodies(stack: Stack) -> list[dict[str, Any]]:
    sqs = stack.session.client("sqs")
    got = sqs.receive_message(QueueUrl=stack.work_queue_url, MaxNumberOfMessages=10)
    return [json.loads(m["Body"]) for m in got.get("Messages", [])]


def exported_workspaces(stack: Stack) -> set[str]:
    return {record["workspace"] for _, record in stack.records()}


def queue_depth(stack: Stack, url: str) -> tuple[int, int]:
    attributes = stack.session.client("sqs").get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return (
        int(attributes["ApproximateNumberOfMessages"]),
        int(attributes["ApproximateNumberOfMessagesNotVisible"]),
    )


def test_dispatcher_puts_one_item_per_key_and_never_the_key(stack, api, clock):
    given_two_keys(stack, api, clock)

    result = dispatch(settings_of(stack), clock, platform())

    bodies = work_bodies(stack)
    fingerprint_a = Workspace("acme", KEY_A).key_fingerprint
    assert sorted(tuple(b["workspaces"]) for b in bodies) == [("acme", "acme-eu"), ("beta-co",)]
    assert {b["fingerprint"] for b in bodies if "acme" in b["workspaces"]} == {fingerprint_a}
    text = json.dumps(bodies) + json.dumps(result)
    for key in (KEY_A, KEY_B):
        assert key not in text
        assert key[4:20] not in text
    assert result["status"] == "partial_failure"
    (invalid,) = result["invalid_entries"]
    assert invalid["entry"] == "workspaces[3]"
    assert "'broken'" in invalid["problem"]


def test_dispatcher_sends_ten_items_per_batch(stack, clock):
    keys = [f"wbk_{n:02d}" + "k" * 40 for n in range(23)]
    stack.put_secret({"workspaces": [{"name": f"w{n}", "api_key": k} for n, k in enumerate(keys)]})
    session = platform()
    batches: list[int] = []
    session.events.register(
        "before-parameter-build.sqs.SendMessageBatch",
        lambda params, **_: batches.append(len(params["Entries"])),
    )

    result = dispatch(settings_of(stack), clock, session)

    assert batches == [10, 10, 3]
    assert len(result["work_items"]) == 23
    assert queue_depth(stack, stack.work_queue_url) == (23, 0)


def test_worker_exports_only_the_workspaces_of_its_key(stack, api, clock):
    given_two_keys(stack, api, clock)
    dispatch(settings_of(stack), clock, platform())
    source = EventSource(platform().client("sqs"), stack.work_queue_url)
    recorder = worker_export(stack, clock, api)

    assert source.poll(worker(recorder), LambdaContext(900)) == 1  # one item: one key

    (summary,) = recorder.summaries
    names = [w.name for w in summary.workspaces]
    assert names in (["acme", "acme-eu"], ["beta-co"])
    assert exported_workspaces(stack) == set(names)
    served = {workspace for workspace in api.keys.values() if workspace in names}
    assert {path.split("/")[-2] for path, _ in api.calls if "/campaigns/" in path} <= {
        c["id"] for w in served for c in api.campaigns[w]
    }
    assert source.responses == [{"batchItemFailures": []}]
    assert queue_depth(stack, stack.work_queue_url) == (1, 0)  # the other key's item


def test_a_key_another_worker_holds_is_left_to_it(stack, api, clock):
    given_two_keys(stack, api, clock)
    fingerprint = Workspace("beta-co", KEY_B).key_fingerprint
    lease = KeyLease(stack.session.client("dynamodb"), TABLE)
    now_ms = int(clock.now().timestamp() * 1000)
    assert lease.acquire(fingerprint, "other-worker", now_ms + 600_000, now_ms)
    dispatch(settings_of(stack), clock, platform())
    source = EventSource(platform().client("sqs"), stack.work_queue_url)
    recorder = worker_export(stack, clock, api)

    source.drain(worker(recorder))

    assert [w.name for s in recorder.summaries for w in s.workspaces] == ["acme", "acme-eu"]
    assert "beta-co" not in exported_workspaces(stack)
    assert not [path for path, _ in api.calls if "cmp_b1" in path]
    assert all(r == {"batchItemFailures": []} for r in source.responses)  # done, not retried
    assert queue_depth(stack, stack.work_queue_url) == (0, 0)
    item = stack.session.client("dynamodb").get_item(
        TableName=TABLE, Key={"pk": {"S": f"keylease#{fingerprint}"}}
    )["Item"]
    assert item["lease_owner"]["S"] == "other-worker"  # untouched

    clock.advance(minutes=11)  # past the holder's deadline: the next tick takes the key
    dispatch(settings_of(stack), clock, platform())
    source.drain(worker(recorder))
    assert "beta-co" in exported_workspaces(stack)


def test_a_second_worker_does_not_export_a_key_while_the_first_does(stack, api, clock):
    given_two_keys(stack, api, clock)
    stack.put_secret({"workspaces": [{"name": "beta-co", "api_key": KEY_B}]})
    settings = settings_of(stack)
    dispatch(settings, clock, platform())
    dispatch(settings, clock, platform())  # the same key twice: an overlapping tick
    sqs = platform().client("sqs")
    first = EventSource(sqs, stack.work_queue_url)
    second = EventSource(sqs, stack.work_queue_url)
    outer, inner = worker_export(stack, clock, api), worker_export(stack, clock, api)
    seen: list[int] = []

    def meanwhile(path: str, query: dict[str, str]) -> None:  # while the first is exporting
        if not seen:
            seen.append(len(api.calls))
            second.poll(worker(inner), LambdaContext(900))
            seen.append(len(api.calls))

    api.before_request.append(meanwhile)
    first.poll(worker(outer), LambdaContext(900))

    assert len(outer.summaries) == 1
    assert outer.summaries[0].ok
    assert inner.summaries == []  # the second found the key busy
    assert seen[1] == seen[0], "the second worker called the API"
    assert second.responses == [{"batchItemFailures": []}]
    assert queue_depth(stack, stack.work_queue_url) == (0, 0)
    assert not [
        i for i in stack.items() if i["pk"]["S"].startswith("keylease#") and "lease_owner" in i
    ], "the key's lease was not let go"


def test_a_failing_item_returns_to_the_queue_and_the_others_complete(stack, api, clock):
    given_two_keys(stack, api, clock)
    dispatch(settings_of(stack), clock, platform())
    sqs = platform().client("sqs")
    sqs.send_message(QueueUrl=stack.work_queue_url, MessageBody='{"not": "a work item"}')
    broken_key = Workspace("beta-co", KEY_B).key_fingerprint

    def http_for(key: str) -> Any:
        if Workspace("x", key).key_fingerprint == broken_key:
            raise RuntimeError("connection pool broken")  # outside the exporter's isolation
        return nullcontext(api.client(key))

    recorder = Recorder(KeyExport(settings_of(stack), clock, stack.session, http_for))
    source = EventSource(sqs, stack.work_queue_url, batch_size=10)

    assert source.poll(worker(recorder), LambdaContext(900)) == 3
    (response,) = source.responses

    assert len(response["batchItemFailures"]) == 2  # the poison body and key B
    assert exported_workspaces(stack) == {"acme", "acme-eu"}
    assert queue_depth(stack, stack.work_queue_url) == (0, 2)  # in flight until the timeout
    assert not [i for i in stack.items() if "lease_owner" in i]  # key B's lease let go


def test_an_item_whose_key_left_the_secret_is_acknowledged(stack, api, clock):
    given_two_keys(stack, api, clock)
    dispatch(settings_of(stack), clock, platform())
    stack.put_secret({"workspaces": [{"name": "acme", "api_key": KEY_A}]})  # key B removed
    source = EventSource(platform().client("sqs"), stack.work_queue_url)
    recorder = worker_export(stack, clock, api)

    assert source.drain(worker(recorder)) == 2

    assert [w.name for s in recorder.summaries for w in s.workspaces] == ["acme"]
    assert all(r == {"batchItemFailures": []} for r in source.responses)
    assert queue_depth(stack, stack.work_queue_url) == (0, 0)


def test_local_batch_events_have_lambdas_shape(stack, api, clock):
    given_two_keys(stack, api, clock)
    dispatch(settings_of(stack), clock, platform())
    recorded = json.loads((ROOT / "events" / "sqs-work-batch.json").read_text())
    events: list[dict[str, Any]] = []

    def keep(event: dict[str, Any], context: Any) -> dict[str, Any]:
        events.append(event)
        return {"batchItemFailures": []}

    EventSource(platform().client("sqs"), stack.work_queue_url).poll(keep, LambdaContext())

    (record,) = events[0]["Records"]
    (sample,) = recorded["Records"]
    assert record.keys() == sample.keys()
    assert record["attributes"].keys() >= {"ApproximateReceiveCount", "SentTimestamp"}
    assert record["eventSource"] == sample["eventSource"] == "aws:sqs"
    assert json.loads(sample["body"]).keys() == json.loads(record["body"]).keys()


@pytest.mark.parametrize("body", ["not json", '{"workspaces": []}', '{"fingerprint": "../x"}'])
def test_a_body_that_is_no_work_item_fails_its_record(stack, api, clock, body):
    sqs = platform().client("sqs")
    sqs.send_message(QueueUrl=stack.work_queue_url, MessageBody=body)
    source = EventSource(sqs, stack.work_queue_url)

    source.poll(worker(worker_export(stack, clock, api)), LambdaContext())

    assert len(source.responses[0]["batchItemFailures"]) == 1
    assert api.calls == []


@pytest.mark.parametrize(("flag", "per_workspace"), [("", False), ("true", True)])
def test_the_worker_publishes_workspace_metrics_only_when_asked(
    stack, api, clock, capsys, monkeypatch, flag, per_workspace
):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")  # the suite silences them
    given_two_keys(stack, api, clock)
    dispatch(settings_of(stack), clock, platform())
    source = EventSource(platform().client("sqs"), stack.work_queue_url)
    settings = Settings.from_env({**stack.env(), "WORKSPACE_METRICS": flag})
    export = KeyExport(settings, clock, stack.session, lambda key: nullcontext(api.client(key)))
    recorder = Recorder(export)
    capsys.readouterr()

    assert source.poll(worker(recorder), LambdaContext(900)) == 1

    (summary,) = recorder.summaries
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if '"_aws"' in x]
    runs = [line for line in lines if "RunsSucceeded" in line]
    workspaces = sorted(line["workspace"] for line in lines if "workspace" in line)
    assert len(runs) == 1
    assert "workspace" not in runs[0]
    assert runs[0]["EventsExported"] == [float(sum(w.stats.exported for w in summary.workspaces))]
    assert runs[0]["EventsExported"] > [0.0]
    assert workspaces == (sorted(w.name for w in summary.workspaces) if per_workspace else [])
