"""The local stack for `make demo` and the measurement scripts: a moto server and the LeadLex
sandbox as child processes on free loopback ports, and the AWS resources template.yaml defines.
Everything started here is stopped when the `with` block ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx

BUCKET, TABLE, QUEUE, WORK_QUEUE, SECRET = (
    "leadlex-export",
    "leadlex-checkpoints",
    "leadlex-notify",
    "leadlex-work",
    "leadlex/api-keys",
)


@dataclass
class LocalStack:
    moto_url: str
    api_url: str
    admin_url: str
    queue_url: str
    work_queue_url: str = ""

    def env(self, **overrides: str) -> dict[str, str]:
        env = {
            "AWS_ENDPOINT_URL": self.moto_url,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": "us-east-1",
            "EXPORT_BUCKET": BUCKET,
            "CHECKPOINT_TABLE": TABLE,
            "NOTIFY_QUEUE_URL": self.queue_url,
            "WORK_QUEUE_URL": self.work_queue_url,
            "API_KEYS_SECRET_ID": SECRET,
            "LEADLEX_API_URL": self.api_url,
            "POWERTOOLS_SERVICE_NAME": "leadlex-exporter",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_NAMESPACE": "LeadLexExporter",
            "SECRET_MAX_AGE_SECONDS": "0",
        }
        env.update(overrides)
        return env

    def session(self) -> boto3.session.Session:
        return boto3.session.Session(
            aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1"
        )

    def client(self, service: str) -> Any:
        return self.session().client(service, endpoint_url=self.moto_url)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def local_stack(
    workspaces: list[dict[str, Any]], seed: int = 42, days: int = 30
) -> Iterator[LocalStack]:
    """Start moto and a sandbox seeded with `workspaces` (the sandbox CLI's format)."""
    port = free_port()
    moto = subprocess.Popen(
        [sys.executable, "-m", "scripts.moto_locking", "-H", "127.0.0.1", "-p", str(port)],
        cwd=Path(__file__).resolve().parent.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as spec:
        json.dump(workspaces, spec)
    sandbox = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "leadlex_sandbox",
            "--port",
            "0",
            "--seed",
            str(seed),
            "--days",
            str(days),
            "--workspaces-json",
            spec.name,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = sandbox.stdout.readline() if sandbox.stdout else ""
        if not line.startswith("LISTENING "):
            raise RuntimeError("the sandbox did not start")
        api_url = line.split(" ", 1)[1].strip()
        moto_url = f"http://127.0.0.1:{port}"
        _wait(moto_url + "/moto-api/")
        stack = LocalStack(moto_url, api_url, api_url.split("/functions/")[0] + "/_admin", "")
        stack.queue_url, stack.work_queue_url = _create_resources(stack, workspaces)
        yield stack
    finally:
        for process in (sandbox, moto):
            process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)
        os.unlink(spec.name)


def _wait(url: str) -> None:
    for _ in range(300):
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer")


def _create_resources(stack: LocalStack, workspaces: list[dict[str, Any]]) -> tuple[str, str]:
    """The bucket, table and secret; the notify and work queues (URLs back), each with its
    dead-letter queue, as template.yaml makes them."""
    stack.client("s3").create_bucket(Bucket=BUCKET)
    stack.client("dynamodb").create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    document = {"workspaces": [{"name": w["name"], "api_key": w["api_key"]} for w in workspaces]}
    stack.client("secretsmanager").create_secret(Name=SECRET, SecretString=json.dumps(document))
    return (
        _queue_with_dlq(stack, QUEUE, max_receives=5, visibility_seconds=720),
        _queue_with_dlq(stack, WORK_QUEUE, max_receives=3, visibility_seconds=5400),
    )


def _queue_with_dlq(
    stack: LocalStack, name: str, max_receives: int, visibility_seconds: int
) -> str:
    sqs = stack.client("sqs")
    dlq = sqs.create_queue(QueueName=name + "-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receives)})
    attributes = {"RedrivePolicy": redrive, "VisibilityTimeout": str(visibility_seconds)}
    return str(sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])
