from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from tests.fakes import FakeClock, FakeLeadLex
from tests.iam_policy import ACCOUNT, Physical, PolicyCheck, function_statements

REGION = "us-east-1"
BUCKET = "leadlex-export-test"
TABLE = "leadlex-checkpoints-test"
SECRET = "leadlex/api-keys-test"
QUEUE = "leadlex-notify-test"
WORK_QUEUE = "leadlex-work-test"
WORK_MAX_RECEIVES = 3  # as the template's WorkQueue


@pytest.fixture(autouse=True)
def _aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials first; never reach a real account."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_SERVICE_NAME": "leadlex-exporter",
        "POWERTOOLS_METRICS_NAMESPACE": "LeadLexExporter",
    }.items():
        monkeypatch.setenv(name, value)


@dataclass
class Stack:
    """The AWS resources the template defines, created in whatever endpoint boto3 points at."""

    session: boto3.session.Session
    queue_url: str
    work_queue_url: str = ""
    work_dlq_url: str = ""
    policy: PolicyCheck | None = None  # what the exporter called that its IAM policy denies

    def env(self, **overrides: str) -> dict[str, str]:
        env = {
            "EXPORT_BUCKET": BUCKET,
            "NOTIFY_QUEUE_URL": self.queue_url,
            "CHECKPOINT_TABLE": TABLE,
            "API_KEYS_SECRET_ID": SECRET,
            "WORK_QUEUE_URL": self.work_queue_url,
            "SECRET_MAX_AGE_SECONDS": "0",
            "STOP_MARGIN_SECONDS": "5",
            "MAX_CALLS_PER_MINUTE": "100000",
        }
        env.update(overrides)
        return env

    def put_secret(self, document: Any) -> None:
        text = document if isinstance(document, str) else json.dumps(document)
        self.session.client("secretsmanager").put_secret_value(SecretId=SECRET, SecretString=text)

    def s3_keys(self, prefix: str = "") -> list[str]:
        s3 = self.session.client("s3")
        keys: list[str] = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
            keys += [o["Key"] for o in page.get("Contents", [])]
        return keys

    def records(self, prefix: str = "events/") -> list[tuple[str, dict[str, Any]]]:
        s3 = self.session.client("s3")
        rows = []
        for key in self.s3_keys(prefix):
            body = gzip.decompress(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
            rows += [(key, json.loads(line)) for line in body.splitlines() if line.strip()]
        return rows

    def messages(self) -> list[dict[str, Any]]:
        sqs = self.session.client("sqs")
        out = []
        while True:
            got = sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=10,
                MessageAttributeNames=["All"],
                WaitTimeSeconds=0,
            )
            if not got.get("Messages"):
                return out
            for message in got["Messages"]:
                out.append(message)
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def items(self) -> list[dict[str, Any]]:
        return self.session.client("dynamodb").scan(TableName=TABLE)["Items"]


def create_stack(session: boto3.session.Session) -> Stack:
    session.client("s3").create_bucket(Bucket=BUCKET)
    session.client("dynamodb").create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    session.client("secretsmanager").create_secret(Name=SECRET, SecretString='{"workspaces": []}')
    sqs = session.client("sqs")
    queue_url = sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
    work_dlq_url = sqs.create_queue(QueueName=WORK_QUEUE + "-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=work_dlq_url, AttributeNames=["QueueArn"])
    redrive = {
        "deadLetterTargetArn": dlq_arn["Attributes"]["QueueArn"],
        "maxReceiveCount": str(WORK_MAX_RECEIVES),
    }
    work_queue_url = sqs.create_queue(
        QueueName=WORK_QUEUE,
        Attributes={"VisibilityTimeout": "5400", "RedrivePolicy": json.dumps(redrive)},
    )["QueueUrl"]
    return Stack(session, queue_url, work_queue_url, work_dlq_url)


def exporter_resources(stack: Stack) -> Physical:
    """The template's logical ids as the test stack's resources, for the functions' policies."""
    secret_arn = stack.session.client("secretsmanager").describe_secret(SecretId=SECRET)["ARN"]
    return Physical(
        refs={
            "ExportBucket": BUCKET,
            "NotifyQueue": stack.queue_url,
            "WorkQueue": stack.work_queue_url,
            "CheckpointTable": TABLE,
            "ApiKeysSecret": secret_arn,
        },
        arns={
            "ExportBucket": f"arn:aws:s3:::{BUCKET}",
            "NotifyQueue": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{QUEUE}",
            "WorkQueue": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{WORK_QUEUE}",
            "CheckpointTable": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{TABLE}",
        },
        # The defaults: the stack creates the API keys secret; no customer managed key.
        conditions={"CreateApiKeysSecret": True, "HasExistingSecretKmsKey": False},
    )


def exporter_policy_check(stack: Stack) -> PolicyCheck:
    resources = exporter_resources(stack)
    return PolicyCheck(
        statements=function_statements("WorkerFunction", resources),
        source="src/leadlex_exporter",
        secrets={SECRET: resources.refs["ApiKeysSecret"]},
    )


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """moto in-process; AWS_ENDPOINT_URL would bypass it, so it is removed. Its DynamoDB
    takes one request at a time, as a table does (scripts/moto_locking.py says why).

    Every AWS call the exporter's code makes must be one template.yaml's WorkerFunction
    policy allows (moto itself does not check IAM here): the test fails otherwise."""
    from moto import mock_aws

    from scripts import moto_locking

    moto_locking.apply()
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        created = create_stack(boto3.session.Session(region_name=REGION))
        created.policy = exporter_policy_check(created)
        created.policy.attach(created.session)
        yield created
        denied = sorted(set(created.policy.denied))
        assert not denied, f"WorkerFunction's policy in template.yaml does not allow {denied}"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def api(clock: FakeClock) -> FakeLeadLex:
    return FakeLeadLex(clock=clock)


def run_exporter(
    stack: Stack, clock: FakeClock, api: FakeLeadLex | None = None, seconds: float = 900, **env: str
) -> dict[str, Any]:
    """One schedule tick as Lambda would run it: the dispatcher, then a worker invocation per
    work item from the work queue, each with `seconds` to live; with the fake API when given."""
    from contextlib import nullcontext

    from leadlex_exporter.key_export import KeyExport
    from leadlex_exporter.settings import Settings
    from scripts.event_source import local_tick

    settings = Settings.from_env(stack.env(**env))
    factory = (lambda key: nullcontext(api.client(key))) if api else None
    export = KeyExport(settings, clock, stack.session, factory)
    # The dispatcher and the event source are other processes on AWS: their calls are not the
    # worker's, so they do not go through the hooks tests put on stack.session.
    platform = boto3.session.Session(region_name=REGION)
    return local_tick(settings, clock, platform, export, seconds)


os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
