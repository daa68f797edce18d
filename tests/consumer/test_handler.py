"""The consumer end to end: lambda_handler, moto (table, secret) and a real receiver."""

from __future__ import annotations

import copy
import io
import json
import time
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from leadlex_consumer.errors import ConfigurationError
from leadlex_consumer.forward import IDEMPOTENCY_KEY_PREFIX
from tests.consumer.conftest import SIGNING_SECRET, Aws, Invoke, redelivered
from tests.consumer.receiver import Receiver
from tests.notification_schema import check_body


def _ids(batch: dict[str, Any]) -> list[str]:
    return [json.loads(r["body"])["event_id"] for r in batch["Records"]]


def test_every_record_is_delivered_signed_and_byte_for_byte(
    invoke: Invoke, receiver: Receiver, sqs_batch: dict[str, Any]
) -> None:
    response = invoke(sqs_batch)

    assert response == {"batchItemFailures": []}
    assert receiver.delivered == _ids(sqs_batch)
    assert all(r.signature_ok for r in receiver.requests)
    assert [r.body for r in receiver.requests] == [
        r["body"].encode("utf-8") for r in sqs_batch["Records"]
    ]


def test_duplicate_in_the_same_batch_is_delivered_once(
    invoke: Invoke, receiver: Receiver, sqs_batch: dict[str, Any]
) -> None:
    first = sqs_batch["Records"][0]
    sqs_batch["Records"].append(redelivered(first))

    response = invoke(sqs_batch)

    assert response == {"batchItemFailures": []}
    assert sorted(receiver.delivered) == sorted(_ids(sqs_batch)[:3])


def test_duplicate_in_a_later_invocation_is_delivered_once(
    invoke: Invoke, receiver: Receiver, sqs_batch: dict[str, Any]
) -> None:
    invoke(sqs_batch)
    again = {"Records": [redelivered(r) for r in sqs_batch["Records"]]}

    response = invoke(again)

    assert response == {"batchItemFailures": []}
    assert receiver.delivered == _ids(sqs_batch)


def test_receiver_500_fails_only_that_record_and_its_retry_delivers_it(
    invoke: Invoke, receiver: Receiver, sqs_batch: dict[str, Any]
) -> None:
    failing = sqs_batch["Records"][1]
    receiver.answer(json.loads(failing["body"])["event_id"], 500, 500)

    response = invoke(sqs_batch, WEBHOOK_MAX_ATTEMPTS="2")
    retry = invoke({"Records": [redelivered(r) for r in sqs_batch["Records"]]})

    assert response == {"batchItemFailures": [{"itemIdentifier": failing["messageId"]}]}
    assert retry == {"batchItemFailures": []}
    assert sorted(receiver.delivered) == sorted(_ids(sqs_batch))
    assert len(receiver.requests) == 5  # 2 delivered, 2 failed attempts, 1 retried delivery


def test_receiver_4xx_fails_the_record_without_retrying(
    invoke: Invoke, receiver: Receiver, sqs_batch: dict[str, Any], consumer_logs: io.StringIO
) -> None:
    rejected = sqs_batch["Records"][0]
    event_id = json.loads(rejected["body"])["event_id"]
    receiver.answer(event_id, 422)

    response = invoke(sqs_batch)

    assert response == {"batchItemFailures": [{"itemIdentifier": rejected["messageId"]}]}
    assert [r.event_id for r in receiver.requests].count(event_id) == 1
    (line,) = [json.loads(x) for x in consumer_logs.getvalue().splitlines() if "failed" in x]
    assert line["message"] == "webhook delivery failed"
    assert (line["event_id"], line["status"], line["error"]) == (
        event_id,
        422,
        "WebhookRejectedError",
    )


def test_malformed_message_fails_only_itself(
    invoke: Invoke, receiver: Receiver, sqs_batch: dict[str, Any], consumer_logs: io.StringIO
) -> None:
    broken = copy.deepcopy(sqs_batch["Records"][2])
    broken["messageId"], broken["body"] = "3d1f2a9e-0000-4000-8000-000000000000", "{not json"
    sqs_batch["Records"].append(broken)

    response = invoke(sqs_batch)

    assert response == {"batchItemFailures": [{"itemIdentifier": broken["messageId"]}]}
    assert receiver.delivered == _ids({"Records": sqs_batch["Records"][:3]})
    (line,) = [json.loads(x) for x in consumer_logs.getvalue().splitlines() if "failed" in x]
    assert (line["message_id"], line["error"]) == (broken["messageId"], "MalformedMessageError")


def test_a_batch_that_fails_entirely_fails_the_invocation(
    invoke: Invoke, receiver: Receiver, sqs_batch: dict[str, Any]
) -> None:
    record = sqs_batch["Records"][0]
    receiver.answer(json.loads(record["body"])["event_id"], 400)

    with pytest.raises(BatchProcessingError):
        invoke({"Records": [record]})


def test_completed_delivery_is_recorded_in_the_checkpoint_table_under_its_prefix(
    invoke: Invoke, aws: Aws, sqs_batch: dict[str, Any]
) -> None:
    invoke({"Records": sqs_batch["Records"][:1]})

    (item,) = aws.items()
    assert item["pk"]["S"].startswith(IDEMPOTENCY_KEY_PREFIX + "#")
    assert item["status"]["S"] == "COMPLETED"
    week = 7 * 86_400
    assert abs(int(item["ttl"]["N"]) - (time.time() + week)) < 120


def test_no_record_is_kept_for_a_failed_delivery(
    invoke: Invoke, aws: Aws, receiver: Receiver, sqs_batch: dict[str, Any]
) -> None:
    receiver.answer(json.loads(sqs_batch["Records"][0]["body"])["event_id"], 503)

    invoke(sqs_batch, WEBHOOK_MAX_ATTEMPTS="1")

    assert len(aws.items()) == 2


def test_missing_settings_fail_the_invocation_naming_them(
    invoke: Invoke, sqs_batch: dict[str, Any]
) -> None:
    with pytest.raises(ConfigurationError, match="WEBHOOK_URL is not set"):
        invoke(sqs_batch, WEBHOOK_URL="")


def test_the_secret_never_appears_in_logs(
    invoke: Invoke,
    receiver: Receiver,
    sqs_batch: dict[str, Any],
    consumer_logs: io.StringIO,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level("INFO")
    ids = _ids(sqs_batch)
    receiver.answer(ids[0], 503, 503)
    receiver.answer(ids[1], 401)
    sqs_batch["Records"].append(redelivered(sqs_batch["Records"][2]))

    invoke(sqs_batch, WEBHOOK_MAX_ATTEMPTS="2")
    with pytest.raises(ConfigurationError):
        invoke(sqs_batch, WEBHOOK_TIMEOUT_SECONDS="nope")

    logged = consumer_logs.getvalue()
    assert "webhook delivered" in logged
    assert "webhook attempt failed" in logged
    assert "duplicate notification skipped" in logged
    records = [str(vars(r)) for r in caplog.records]  # structured fields included
    for text in (logged, caplog.text, *records, *capsys.readouterr()):
        assert SIGNING_SECRET not in text


def _under_workspace(record: dict[str, Any], workspace: str) -> dict[str, Any]:
    """The same event as the exporter sends it for another entry of the secret (same key)."""
    body = json.loads(record["body"])
    body["workspace"] = workspace
    again = redelivered(record)
    again["body"] = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    again["messageAttributes"]["workspace"]["stringValue"] = workspace
    return again


def test_one_event_under_two_workspace_names_is_two_deliveries(
    invoke: Invoke, receiver: Receiver, sqs_batch: dict[str, Any]
) -> None:
    acme = sqs_batch["Records"][0]
    eu = _under_workspace(acme, "acme-eu")

    first = invoke({"Records": [acme, eu]})
    again = invoke({"Records": [redelivered(acme), redelivered(eu)]})

    assert first == again == {"batchItemFailures": []}
    event_id = json.loads(acme["body"])["event_id"]
    assert receiver.delivered == [event_id, event_id]
    assert [json.loads(r.body)["workspace"] for r in receiver.requests] == ["acme", "acme-eu"]
    delivery_ids = {r.headers["x-leadlex-delivery-id"] for r in receiver.requests}
    assert len(delivery_ids) == 2


def test_the_idempotency_record_is_keyed_on_workspace_and_event_id(
    invoke: Invoke, aws: Aws, sqs_batch: dict[str, Any]
) -> None:
    acme = sqs_batch["Records"][0]

    invoke({"Records": [acme, _under_workspace(acme, "acme-eu")]})

    assert len({item["pk"]["S"] for item in aws.items()}) == 2


def test_a_body_without_workspace_is_keyed_on_the_workspace_attribute(
    invoke: Invoke, receiver: Receiver, sqs_batch: dict[str, Any]
) -> None:
    record = sqs_batch["Records"][0]
    body = json.loads(record["body"])
    del body["workspace"]
    record["body"] = json.dumps(body)
    other = _under_workspace(record, "acme-eu")
    other["body"] = record["body"]  # only the attribute tells the two apart

    response = invoke({"Records": [record, other]})

    assert response == {"batchItemFailures": []}
    assert len({r.headers["x-leadlex-delivery-id"] for r in receiver.requests}) == 2


def test_a_message_without_any_workspace_is_malformed(
    invoke: Invoke, receiver: Receiver, sqs_batch: dict[str, Any], consumer_logs: io.StringIO
) -> None:
    record = sqs_batch["Records"][0]
    body = json.loads(record["body"])
    del body["workspace"]
    record["body"] = json.dumps(body)
    del record["messageAttributes"]["workspace"]

    response = invoke(sqs_batch)

    assert response == {"batchItemFailures": [{"itemIdentifier": record["messageId"]}]}
    (line,) = [json.loads(x) for x in consumer_logs.getvalue().splitlines() if "failed" in x]
    assert line["error"] == "MalformedMessageError"


def test_the_recorded_notifications_match_the_documented_schema(sqs_batch: dict[str, Any]) -> None:
    bodies = [check_body(r["body"]) for r in sqs_batch["Records"]]
    assert {b["schema_version"] for b in bodies} == {1}


@pytest.mark.parametrize("version", [2, 0, "1", 1.0, None])
def test_a_notification_of_an_unknown_schema_version_fails_only_itself(
    invoke: Invoke,
    receiver: Receiver,
    sqs_batch: dict[str, Any],
    consumer_logs: io.StringIO,
    version: Any,
) -> None:
    record = sqs_batch["Records"][1]
    body = json.loads(record["body"])
    body["schema_version"] = version
    record["body"] = json.dumps(body)

    response = invoke(sqs_batch)

    # Failed like any body that is not a notification: back to the queue, then the DLQ.
    assert response == {"batchItemFailures": [{"itemIdentifier": record["messageId"]}]}
    assert receiver.delivered == _ids(
        {"Records": [sqs_batch["Records"][0], *sqs_batch["Records"][2:]]}
    )
    (line,) = [json.loads(x) for x in consumer_logs.getvalue().splitlines() if "failed" in x]
    assert line["error"] == "MalformedMessageError"
    assert f"schema_version {json.dumps(version)};" in line["reason"]
    assert "reads version 1" in line["reason"]


def test_a_notification_without_schema_version_is_read_as_version_1(
    invoke: Invoke, receiver: Receiver, sqs_batch: dict[str, Any]
) -> None:
    # Sent by an exporter from before the field: the same format.
    for record in sqs_batch["Records"]:
        body = json.loads(record["body"])
        del body["schema_version"]
        record["body"] = json.dumps(body)

    response = invoke(sqs_batch)

    assert response == {"batchItemFailures": []}
    assert receiver.delivered == _ids(sqs_batch)
