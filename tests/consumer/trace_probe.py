"""Runs the consumer as Lambda would with TRACE_SDK_CALLS=true, in a fresh interpreter, and
prints one JSON line: every entity X-Ray would have received, and every log line at DEBUG.

`python -m tests.consumer.trace_probe` (test_tracing runs it). The webhook URL carries a token
in its path and its query; the caller looks for them in everything printed.
"""

from __future__ import annotations

import io
import json
import logging
import os
import socket
import sys
from typing import Any

PATH_TOKEN = "tok_path_7Hq2ZfW9"
QUERY_TOKEN = "tok_query_Lp4Xv8Kc"
TRACE_HEADER = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


def lambda_environment() -> None:
    """What X-Ray and Powertools look at in a Lambda sandbox; the root logger as Lambda sets
    it with advanced logging controls at DEBUG."""
    os.environ.update(
        LAMBDA_TASK_ROOT="/var/task",
        AWS_LAMBDA_FUNCTION_NAME="leadlex-exporter-ConsumerFunction-test",
        _X_AMZN_TRACE_ID=TRACE_HEADER,
        TRACE_SDK_CALLS="true",
        POWERTOOLS_LOG_LEVEL="DEBUG",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    os.environ.pop("POWERTOOLS_TRACE_DISABLED", None)


class CapturingEmitter:
    """Stands in for the UDP emitter to the X-Ray daemon."""

    def __init__(self) -> None:
        self.sent: list[Any] = []

    def send_entity(self, entity: Any) -> None:
        self.sent.append(json.loads(entity.serialize()))

    def set_daemon_address(self, address: str | None) -> None:
        return


def main() -> None:
    lambda_environment()
    logs = io.StringIO()
    root = logging.getLogger()
    root.addHandler(logging.StreamHandler(logs))
    root.setLevel(logging.DEBUG)

    from aws_xray_sdk.core import xray_recorder

    emitter = CapturingEmitter()
    xray_recorder.configure(emitter=emitter)

    from moto import mock_aws

    from tests.consumer.conftest import SAMPLE_BATCH, FakeLambdaContext
    from tests.consumer.receiver import Receiver

    with mock_aws():
        import boto3

        session = boto3.session.Session()
        session.client("dynamodb").create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        secret = session.client("secretsmanager").create_secret(Name="s", SecretString="whsec_x")
        receiver = Receiver(secret="whsec_x", path=f"/hooks/{PATH_TOKEN}?key={QUERY_TOKEN}")
        receiver.start()
        batch = json.loads(SAMPLE_BATCH.read_text())
        failing = json.loads(batch["Records"][1]["body"])["event_id"]
        receiver.answer(failing, 500, 500)  # one record retried, then failed
        with socket.socket() as sock:  # a port nobody listens on: transport errors
            sock.bind(("127.0.0.1", 0))
            refused = (
                f"http://127.0.0.1:{sock.getsockname()[1]}/hooks/{PATH_TOKEN}?key={QUERY_TOKEN}"
            )

        from leadlex_consumer.handler import lambda_handler

        results = []
        for url in (receiver.url, refused):
            os.environ.update(
                WEBHOOK_URL=url,
                WEBHOOK_SECRET_ID=secret["ARN"],
                IDEMPOTENCY_TABLE="t",
                WEBHOOK_MAX_ATTEMPTS="2",
            )
            try:
                results.append(lambda_handler(batch, FakeLambdaContext()))
            except Exception as exc:  # a batch that fails entirely fails the invocation
                results.append({"raised": type(exc).__name__})
        receiver.stop()

    print(
        json.dumps(
            {
                "origins": [receiver.url.split("/hooks")[0], refused.split("/hooks")[0]],
                "results": results,
                "delivered": receiver.delivered,
                "entities": emitter.sent,
                "logs": logs.getvalue(),
            }
        )
    )


if __name__ == "__main__":
    sys.exit(main())
