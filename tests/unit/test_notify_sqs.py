"""SQS rejecting some entries of a batch: they are sent again; what never goes through raises."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import jsonschema
import pytest

from leadlex_exporter.errors import DeliveryError
from leadlex_exporter.notify_sqs import SqsNotifier
from tests.fakes import FakeClock, make_events
from tests.notification_schema import validator


class RejectingSqs:
    """A real (moto) SQS client that SQS 'rejects' some entries of: Failed, not delivered."""

    def __init__(self, sqs, reject_rounds: int, every: int = 3):
        self.sqs = sqs
        self.reject_rounds = reject_rounds
        self.every = every
        self.requests = 0

    def send_message_batch(self, QueueUrl, Entries):  # noqa: N803 - boto3's own names
        self.requests += 1
        rejected = [e for i, e in enumerate(Entries) if i % self.every == 0]
        if self.requests > self.reject_rounds:
            rejected = []
        accepted = [e for e in Entries if e not in rejected]
        response = (
            self.sqs.send_message_batch(QueueUrl=QueueUrl, Entries=accepted)
            if accepted
            else {"Successful": []}
        )
        response["Failed"] = [
            {"Id": e["Id"], "SenderFault": False, "Code": "InternalError"} for e in rejected
        ]
        return response


def events(n: int) -> list[dict]:
    return [{"id": f"evt_{i}", "type": "clicked", "metadata": {"i": i}} for i in range(n)]


def test_rejected_entries_are_resent_until_every_event_is_on_the_queue(stack):
    sqs = RejectingSqs(stack.session.client("sqs"), reject_rounds=4)
    notifier = SqsNotifier(sqs, stack.queue_url, FakeClock(), jitter=lambda: 0.5)

    sent = notifier.send(events(25), "acme", "cmp_a")

    ids = sorted(json.loads(m["Body"])["event_id"] for m in stack.messages())
    assert sent == 25
    assert ids == sorted(f"evt_{i}" for i in range(25))
    assert notifier.requests <= 3 + 4  # ceil(25/10) batches plus the retries


def test_entries_rejected_every_time_raise_so_the_commit_does_not_happen(stack):
    sqs = RejectingSqs(stack.session.client("sqs"), reject_rounds=100)
    notifier = SqsNotifier(sqs, stack.queue_url, FakeClock(), max_attempts=3)

    with pytest.raises(DeliveryError):
        notifier.send(events(5), "acme", "cmp_a")


def test_batches_hold_ten_messages_and_each_carries_the_event_id_as_dedup_key(stack):
    notifier = SqsNotifier(stack.session.client("sqs"), stack.queue_url, FakeClock())

    notifier.send(events(31), "acme", "cmp_a")

    messages = stack.messages()
    assert notifier.requests == 4
    assert len(messages) == 31
    for message in messages:
        body = json.loads(message["Body"])
        assert body["dedup_key"] == body["event"]["id"] == body["event_id"]
        assert message["MessageAttributes"]["event_id"]["StringValue"] == body["event_id"]


def test_an_event_too_large_for_sqs_is_notified_with_its_essentials(stack):
    notifier = SqsNotifier(stack.session.client("sqs"), stack.queue_url, FakeClock())
    huge = {
        "id": "evt_huge",
        "type": "replied",
        "timestamp": "2026-11-20T11:00:00Z",
        "metadata": {"body": "x" * 400_000},
    }

    notifier.send([huge], "acme", "cmp_a")

    body = json.loads(stack.messages()[0]["Body"])
    assert body["event_truncated"] is True
    assert body["event"]["id"] == "evt_huge"
    assert "metadata" not in body["event"]


def test_a_sibling_drains_only_its_own_entries(stack):
    # Recovery settles a crashed group while the run's own group may hold a half batch: the
    # recovered notifications go through a sibling, and the open half batch stays buffered.
    notifier = SqsNotifier(stack.session.client("sqs"), stack.queue_url, FakeClock())
    for event in events(3):
        notifier.queue(notifier.entry(event, "acme", "cmp_open"))
    sibling = notifier.sibling()

    assert sibling.send(events(12), "acme", "cmp_recovered") == 12

    assert notifier.buffered == 3
    assert {json.loads(m["Body"])["campaign_id"] for m in stack.messages()} == {"cmp_recovered"}
    assert notifier.drain() == 3


def exported_events(n: int) -> list[dict]:
    """Events as the exporter notifies them: placed, so with an id and a timestamp."""
    return make_events("cmp_a", n, datetime(2026, 11, 20, 11, 0, tzinfo=UTC), types=("replied",))


def test_every_body_is_schema_version_1_and_valid_against_the_documented_schema(stack):
    notifier = SqsNotifier(stack.session.client("sqs"), stack.queue_url, FakeClock())
    huge = {"id": "evt_huge", "type": "replied", "timestamp": "2026-11-20T11:00:00Z"}
    huge["metadata"] = {"body": "x" * 400_000}
    odd = {"id": 17, "type": "clicked", "timestamp": "2026-11-20T11:00:00Z", "email": None}

    notifier.send([*exported_events(3), odd, huge], "acme", "cmp_a")

    schema = validator()
    bodies = [json.loads(m["Body"]) for m in stack.messages()]
    assert len(bodies) == 5
    for body in bodies:
        assert body["schema_version"] == 1
        assert list(body)[0] == "schema_version"
        schema.validate(body)
    assert [b for b in bodies if b.get("event_truncated")], "the truncated form is covered"


@pytest.mark.parametrize(
    "change",
    [
        {"schema_version": 2},
        {"schema_version": "1"},
        {"workspace": None},
        {"event": {"type": "clicked"}},  # not truncated: the whole event, id included
        {"event_truncated": False},
    ],
)
def test_the_schema_refuses_what_is_not_a_version_1_body(stack, change):
    notifier = SqsNotifier(stack.session.client("sqs"), stack.queue_url, FakeClock())
    notifier.send(exported_events(1), "acme", "cmp_a")
    (message,) = stack.messages()
    body = json.loads(message["Body"])
    schema = validator()
    schema.validate(body)

    with pytest.raises(jsonschema.ValidationError):
        schema.validate({**body, **change})
