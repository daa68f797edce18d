"""The consumer as deployed: template.yaml wiring and the recorded SQS payload in events/."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from leadlex_consumer.forward import IDEMPOTENCY_KEY_PREFIX
from leadlex_consumer.settings import DEFAULT_SIGNATURE_HEADER
from leadlex_exporter.notify_sqs import message_body
from tests.consumer.conftest import ROOT, SAMPLE_BATCH

CONDITION = "HasConsumerWebhook"


class _CfnLoader(yaml.SafeLoader):
    """Reads `!Tag value` as {"Tag": value} so the template loads as plain data."""


def _tag(loader: yaml.SafeLoader, tag: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        return {tag: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {tag: loader.construct_sequence(node, deep=True)}
    return {tag: loader.construct_mapping(node, deep=True)}  # type: ignore[arg-type]


_CfnLoader.add_multi_constructor("!", _tag)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return dict(yaml.load((ROOT / "template.yaml").read_text(), Loader=_CfnLoader))


@pytest.fixture(scope="module")
def consumer(template: dict[str, Any]) -> dict[str, Any]:
    return dict(template["Resources"]["ConsumerFunction"])


def test_consumer_exists_only_when_a_webhook_url_is_set(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    consumer_parts = [name for name in resources if name.startswith("Consumer")]

    assert template["Parameters"]["ConsumerWebhookUrl"]["Default"] == ""
    assert template["Conditions"][CONDITION] == {
        "Not": [{"Equals": [{"Ref": "ConsumerWebhookUrl"}, ""]}]
    }
    assert {"ConsumerFunction", "ConsumerNotifyQueueMapping", "ConsumerErrorsAlarm"} <= set(
        consumer_parts
    )
    for name in consumer_parts:
        assert resources[name]["Condition"] in (CONDITION, "CreateConsumerWebhookSecret"), name


def test_handler_is_the_consumer_module_under_the_shared_code_uri(
    consumer: dict[str, Any],
) -> None:
    properties = consumer["Properties"]
    module, _, function = properties["Handler"].rpartition(".")

    assert (function, properties["CodeUri"]) == ("lambda_handler", "src/")
    assert (ROOT / "src" / (module.replace(".", "/") + ".py")).is_file()


def test_queue_mapping_reports_batch_item_failures(
    template: dict[str, Any], consumer: dict[str, Any]
) -> None:
    mapping = template["Resources"]["ConsumerNotifyQueueMapping"]["Properties"]
    queue = template["Resources"]["NotifyQueue"]["Properties"]

    assert mapping["EventSourceArn"] == {"GetAtt": "NotifyQueue.Arn"}
    assert mapping["FunctionName"] == {"Ref": "ConsumerFunction"}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BatchSize"] == 10
    assert mapping["MaximumBatchingWindowInSeconds"] > 0
    assert queue["VisibilityTimeout"] >= 6 * consumer["Properties"]["Timeout"]
    assert "RedrivePolicy" in queue


def test_environment_carries_what_the_settings_read(
    template: dict[str, Any], consumer: dict[str, Any]
) -> None:
    env = consumer["Properties"]["Environment"]["Variables"]
    header = template["Parameters"]["ConsumerSignatureHeader"]

    assert {k for k in env if not k.startswith("POWERTOOLS_")} == {
        "WEBHOOK_URL",
        "WEBHOOK_SECRET_ID",
        "WEBHOOK_SIGNATURE_HEADER",
        "IDEMPOTENCY_TABLE",
        "TRACE_SDK_CALLS",
    }
    assert env["WEBHOOK_URL"] == {"Ref": "ConsumerWebhookUrl"}
    assert env["TRACE_SDK_CALLS"] == {"Ref": "TraceSdkCalls"}
    assert env["IDEMPOTENCY_TABLE"] == {"Ref": "CheckpointTable"}
    assert header["Default"] == DEFAULT_SIGNATURE_HEADER


def test_iam_is_scoped_to_the_queue_its_own_items_and_its_secret(
    consumer: dict[str, Any],
) -> None:
    (document,) = consumer["Properties"]["Policies"]
    statements = {s["Sid"]: s for s in document["Statement"]}
    secret_id = consumer["Properties"]["Environment"]["Variables"]["WEBHOOK_SECRET_ID"]

    assert statements["ReadNotifyQueue"]["Resource"] == {"GetAtt": "NotifyQueue.Arn"}
    assert sorted(statements["ReadNotifyQueue"]["Action"]) == [
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:ReceiveMessage",
    ]
    dynamodb = statements["IdempotencyRecords"]
    assert dynamodb["Resource"] == {"GetAtt": "CheckpointTable.Arn"}
    assert dynamodb["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"] == [
        IDEMPOTENCY_KEY_PREFIX + "#*"
    ]
    assert statements["ReadSigningSecret"]["Action"] == ["secretsmanager:GetSecretValue"]
    assert statements["ReadSigningSecret"]["Resource"] == secret_id


def test_errors_alarm_watches_the_consumer(template: dict[str, Any]) -> None:
    alarm = template["Resources"]["ConsumerErrorsAlarm"]["Properties"]

    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/Lambda", "Errors")
    assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "ConsumerFunction"}}]


def test_recorded_batch_holds_what_the_exporter_sends() -> None:
    records = json.loads(Path(SAMPLE_BATCH).read_text())["Records"]

    assert records
    for record in records:
        body = json.loads(record["body"])
        attributes = {k: v["stringValue"] for k, v in record["messageAttributes"].items()}
        assert record["body"] == message_body(body["event"], body["workspace"], body["campaign_id"])
        assert record["md5OfBody"] == hashlib.md5(record["body"].encode()).hexdigest()
        assert body["event_id"] == body["dedup_key"] == body["event"]["id"]
        assert attributes == {k: body[k] for k in attributes}
        assert record["eventSource"] == "aws:sqs"
