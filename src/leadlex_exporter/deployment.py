"""Where the stack is, for the CLI: a deployed stack (CloudFormation outputs, its dispatcher
invoked through Lambda) or the local one (the functions' environment, their handlers run in this
process, the worker fed from the work queue by the local event source mapping)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3

from leadlex_exporter.checkpoints import CheckpointStore
from leadlex_exporter.console import Progress
from leadlex_exporter.control import ControlStore
from leadlex_exporter.errors import ConfigurationError
from leadlex_exporter.settings import DEFAULT_API_URL, Settings
from leadlex_exporter.sink_s3 import S3Sink
from leadlex_exporter.workspaces import Workspace, parse_secret


class OperationError(Exception):
    """A problem to show the user, in one line, with a non-zero exit."""


@dataclass
class Deployment:
    session: boto3.session.Session
    table: str
    bucket: str
    work_queue_url: str
    secret_id: str
    export_prefix: str = "events"
    api_url: str = DEFAULT_API_URL
    dispatcher: str | None = None  # the function's name; None: run the handlers in-process
    settings: Settings | None = None  # local: what the functions read

    @classmethod
    def from_stack(cls, session: boto3.session.Session, name: str) -> Deployment:
        stacks = session.client("cloudformation").describe_stacks(StackName=name)["Stacks"]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
        wanted = (
            "CheckpointTableName",
            "ExportBucketName",
            "WorkQueueUrl",
            "ApiKeysSecretArn",
            "DispatcherFunctionName",
        )
        missing = [k for k in wanted if k not in outputs]
        if missing:
            raise OperationError(f"stack {name!r} has no output(s) {', '.join(missing)}")
        location = outputs.get("ExportLocation", "")
        prefix = location.split("/", 3)[3].strip("/") if location.count("/") >= 3 else "events"
        return cls(
            session=session,
            table=outputs["CheckpointTableName"],
            bucket=outputs["ExportBucketName"],
            work_queue_url=outputs["WorkQueueUrl"],
            secret_id=outputs["ApiKeysSecretArn"],
            export_prefix=prefix or "events",
            dispatcher=outputs["DispatcherFunctionName"],
        )

    @classmethod
    def from_env(cls, session: boto3.session.Session) -> Deployment:
        try:
            settings = Settings.from_env(os.environ)
        except ConfigurationError as exc:
            raise OperationError(f"{exc} (pass --stack NAME for a deployed stack)") from None
        return cls(
            session=session,
            table=settings.checkpoint_table,
            bucket=settings.export_bucket,
            work_queue_url=settings.work_queue_url,
            secret_id=settings.secret_id,
            export_prefix=settings.export_prefix,
            api_url=settings.api_url,
            settings=settings,
        )

    def client(self, service: str) -> Any:
        return self.session.client(service)  # type: ignore[call-overload]

    def run_settings(self) -> Settings:
        """The functions' settings: the environment's (local), or the stack's resources with
        the defaults for the rest (deployed: its parameters are not read)."""
        if self.settings is not None:
            return self.settings
        return Settings(
            export_bucket=self.bucket,
            notify_queue_url="",
            checkpoint_table=self.table,
            secret_id=self.secret_id,
            export_prefix=self.export_prefix,
        )

    def store(self) -> CheckpointStore:
        return CheckpointStore(
            self.client("dynamodb"), self.table, S3Sink(self.client("s3"), self.bucket)
        )

    def controls(self) -> ControlStore:
        return ControlStore(self.client("dynamodb"), self.table)

    def invoke(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The dispatcher with this payload, as Lambda would run it; its result."""
        if self.dispatcher is not None:
            response = self.client("lambda").invoke(
                FunctionName=self.dispatcher, Payload=json.dumps(payload).encode()
            )
            body = json.loads(response["Payload"].read() or b"null")
            if response.get("FunctionError"):
                message = body.get("errorMessage") if isinstance(body, dict) else body
                raise OperationError(f"the dispatcher refused the request: {message}")
            return dict(body)
        from leadlex_exporter.dispatcher import lambda_handler
        from leadlex_exporter.local_runner import LambdaContext

        try:
            context: Any = LambdaContext(60, "leadlex-dispatcher")
            return dict(lambda_handler(payload, context))
        except ConfigurationError as exc:
            raise OperationError(f"the dispatcher refused the request: {exc}") from None

    def run_workers(self, progress: Progress) -> int:
        """Local stack: the work queue into the worker's handler until it is empty. Deployed:
        nothing to do (the queue's event source mapping runs the worker)."""
        if self.dispatcher is not None:
            return 0
        from leadlex_exporter.local_runner import EventSource, LambdaContext
        from leadlex_exporter.worker import lambda_handler

        source = EventSource(self.client("sqs"), self.work_queue_url)
        handed = 0
        progress.update(0, "worker running")
        while polled := source.poll(lambda_handler, LambdaContext(900)):
            handed += polled
            progress.update(handed, "worker running")
        return handed

    def workspaces(self) -> list[Workspace]:
        """The secret's workspaces (the CLI needs them for a dry run and `rename` only)."""
        document = self.client("secretsmanager").get_secret_value(SecretId=self.secret_id)
        workspaces, _ = parse_secret(document["SecretString"])
        return workspaces


def scan(deployment: Deployment) -> Iterator[dict[str, Any]]:
    """Every item of the checkpoint table (a CLI's read: bounded by campaigns x a few KB)."""
    ddb = deployment.client("dynamodb")
    for page in ddb.get_paginator("scan").paginate(TableName=deployment.table, ConsistentRead=True):
        yield from page.get("Items", [])
