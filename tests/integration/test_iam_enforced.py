"""The integration suites run the exporter under template.yaml's IAM policy (issue 13): moto
denies it what the policy does not grant, as AWS would."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.conftest import BUCKET, TABLE, Stack


def denied(call: Callable[[], Any]) -> str:
    """The error of a call AWS refuses with 403."""
    with pytest.raises(ClientError) as caught:
        call()
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    return str(caught.value)


def test_the_exporter_role_is_denied_what_its_policy_does_not_grant(live_stack: Stack):
    # Given the exporter's credentials (the environment) and the administrator's
    exporter = boto3.session.Session()
    dynamodb, s3, sqs = (exporter.client(name) for name in ("dynamodb", "s3", "sqs"))
    key = {"pk": {"S": "campaign#acme#cmp_a"}}

    # Then the exporter reads and writes checkpoints, reads them back in batches (recovery of
    # a crashed group), writes objects and sends notifications
    dynamodb.get_item(TableName=TABLE, Key=key)
    dynamodb.batch_get_item(RequestItems={TABLE: {"Keys": [key]}})
    s3.put_object(Bucket=BUCKET, Key="events/x.jsonl.gz", Body=b"")
    sqs.send_message(QueueUrl=live_stack.queue_url, MessageBody="{}")
    # but may not scan the table, read the notify queue or delete the bucket
    assert "perform: dynamodb:Scan" in denied(lambda: dynamodb.scan(TableName=TABLE))
    assert "perform: sqs:ReceiveMessage" in denied(
        lambda: sqs.receive_message(QueueUrl=live_stack.queue_url)
    )
    assert "AccessDenied" in denied(lambda: s3.delete_bucket(Bucket=BUCKET))
    # while the administrator may
    live_stack.session.client("dynamodb").scan(TableName=TABLE)
    # The probe "{}" is no notification: taken off the queue unchecked (live_stack checks
    # what the exporter sends against the schema).
    assert [m["Body"] for m in Stack.messages(live_stack)] == ["{}"]
