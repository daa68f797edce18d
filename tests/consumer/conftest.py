"""Fixtures of the consumer: moto (table and secret), a real receiver, real-looking SQS events."""

from __future__ import annotations

import copy
import io
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters

from tests.consumer.receiver import Receiver
from tests.iam_policy import (
    ACCOUNT,
    Physical,
    create_administrator,
    function_role,
    function_statements,
)

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_BATCH = ROOT / "events" / "sqs-notify-batch.json"
REGION = "us-east-1"
TABLE = "leadlex-checkpoints-test"
SECRET_NAME = "leadlex/consumer-webhook-test"
SIGNING_SECRET = "whsec_Zq4Rv9kT2mXc7LpB1nY8sWd3"


@dataclass
class Aws:
    session: boto3.session.Session
    secret_arn: str

    def items(self) -> list[dict[str, Any]]:
        return self.session.client("dynamodb").scan(TableName=TABLE)["Items"]


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    """moto in-process (AWS_ENDPOINT_URL would bypass it); the checkpoint table and the secret.

    moto checks IAM: the fixture's administrator sets up and reads back, the consumer runs
    with a role whose only policy is ConsumerFunction's from template.yaml."""
    from moto import mock_aws
    from moto.core import enable_iam_authentication

    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    parameters.clear_caches()  # Powertools keeps secrets across "invocations"
    with mock_aws():
        admin = create_administrator(boto3.session.Session(region_name=REGION))
        session = admin.session
        dynamodb = session.client("dynamodb")
        dynamodb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        dynamodb.update_time_to_live(
            TableName=TABLE, TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"}
        )
        secret = session.client("secretsmanager").create_secret(
            Name=SECRET_NAME, SecretString=SIGNING_SECRET
        )
        statements = function_statements("ConsumerFunction", consumer_resources(secret["ARN"]))
        for name, value in function_role(admin, "ConsumerFunction", statements).items():
            monkeypatch.setenv(name, value)
        with enable_iam_authentication():
            yield Aws(session=session, secret_arn=secret["ARN"])
    parameters.clear_caches()


def consumer_resources(secret_arn: str) -> Physical:
    """The template's logical ids as the test's resources, for ConsumerFunction's policy."""
    return Physical(
        refs={"CheckpointTable": TABLE, "ConsumerWebhookSecret": secret_arn},
        arns={
            "CheckpointTable": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{TABLE}",
            "NotifyQueue": f"arn:aws:sqs:{REGION}:{ACCOUNT}:leadlex-notify-test",
        },
        conditions={"CreateConsumerWebhookSecret": True},
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver(secret=SIGNING_SECRET).start()
    yield server
    server.stop()


@pytest.fixture
def sqs_batch() -> dict[str, Any]:
    """The recorded batch: three notifications as the exporter sends them."""
    return dict(json.loads(SAMPLE_BATCH.read_text()))


def redelivered(record: dict[str, Any]) -> dict[str, Any]:
    """The same notification sent again (at-least-once): a new message id, the same body."""
    again = copy.deepcopy(record)
    again["messageId"] = str(uuid.uuid4())
    again["receiptHandle"] = f"AQEB{uuid.uuid4().hex}"
    return again


class FakeLambdaContext:
    function_name = "leadlex-exporter-ConsumerFunction-test"
    function_version = "$LATEST"
    memory_limit_in_mb = 256
    invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:{function_name}"

    def __init__(self, seconds: float = 120):
        self.seconds = seconds
        self.aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return int(self.seconds * 1000)


Invoke = Callable[..., dict[str, Any]]


@pytest.fixture
def invoke(aws: Aws, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> Invoke:
    """Run lambda_handler as Lambda would, with the template's environment."""
    from leadlex_consumer.handler import lambda_handler

    def run(event: dict[str, Any], seconds: float = 120, **env: str) -> dict[str, Any]:
        variables = {
            "WEBHOOK_URL": receiver.url,
            "WEBHOOK_SECRET_ID": aws.secret_arn,
            "IDEMPOTENCY_TABLE": TABLE,
            "POWERTOOLS_SERVICE_NAME": "leadlex-consumer",
        }
        for name, value in {**variables, **env}.items():
            monkeypatch.setenv(name, value)
        return dict(lambda_handler(event, FakeLambdaContext(seconds)))

    return run


@pytest.fixture
def consumer_logs() -> Iterator[io.StringIO]:
    """Every line the consumer's Powertools logger prints (JSON, as in CloudWatch), at DEBUG."""
    import leadlex_consumer.handler  # noqa: F401  (creates the service logger and its handler)

    service = logging.getLogger("leadlex-consumer")
    handler = service.powertools_handler  # type: ignore[attr-defined]
    # Powertools gives each child logger its own level: lower them all.
    loggers = [service] + [
        logger
        for name, logger in logging.Logger.manager.loggerDict.items()
        if name.startswith("leadlex-consumer.") and isinstance(logger, logging.Logger)
    ]
    levels = [logger.level for logger in loggers]
    buffer = io.StringIO()
    old_stream = handler.setStream(buffer)
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    yield buffer
    handler.setStream(old_stream)
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)
