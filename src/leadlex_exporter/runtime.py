"""What the dispatcher and the worker share: one boto3 session per Lambda sandbox, clients made
on first use, the cached API-key secret, and the run context of one export."""

from __future__ import annotations

import functools
import os
import threading
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

import boto3
import botocore
import botocore.session
import httpx
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities import parameters
from botocore.config import Config
from botocore.regions import EndpointResolver

from leadlex_exporter import botocore_data
from leadlex_exporter.checkpoints import CheckpointStore
from leadlex_exporter.clock import Clock, Deadline
from leadlex_exporter.context import RunContext
from leadlex_exporter.leadlex import build_http_client
from leadlex_exporter.notify_sqs import SqsNotifier
from leadlex_exporter.settings import Settings
from leadlex_exporter.sink_s3 import S3Sink
from leadlex_exporter.timestamps import floor_second
from leadlex_exporter.workspaces import InvalidEntry, Workspace, parse_secret

logger = Logger(child=True)

AWS_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 8}, connect_timeout=5, read_timeout=30
)


def new_session() -> boto3.session.Session:
    """A boto3 session that reads the data files the build cut to the exporter's services
    (see `botocore_data`), when they were cut from this botocore version."""
    core = botocore.session.get_session()
    trimmed = botocore_data.load(botocore.__version__)
    if trimmed is not None:
        # The models: a data path searched before botocore's own (as AWS_DATA_PATH is, which
        # still comes after it).
        paths = [str(trimmed.data_path), core.get_config_variable("data_path") or ""]
        core.set_config_variable("data_path", os.pathsep.join(p for p in paths if p))
        # The endpoints, as botocore's own data (uses_builtin_data): the endpoint rulesets
        # then resolve every URL as with the full file. The version check pins this hook.
        components: Any = core._internal_components  # type: ignore[attr-defined]  # noqa: SLF001
        components.register_component(
            "endpoint_resolver", EndpointResolver(trimmed.endpoints, uses_builtin_data=True)
        )
    return boto3.session.Session(botocore_session=core)


@functools.cache
def lambda_session() -> boto3.session.Session:
    """One session per Lambda sandbox: warm invocations reuse its loaded models and data."""
    return new_session()


class LazyClient:
    """A boto3 client created on first use: a run that writes no object (or sends no message)
    never loads that service's model, which is most of a client's memory."""

    _creating = threading.Lock()  # one at a time: a boto3 session is not thread-safe

    def __init__(self, create: Callable[[], Any]):
        self._create = create
        self._client: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._client is None:
            with self._creating:
                if self._client is None:
                    self._client = self._create()
        return getattr(self._client, name)


@functools.cache
def warm_secrets() -> parameters.SecretsProvider:
    """One provider per Lambda sandbox, so warm invocations reuse the cached secret."""
    return parameters.SecretsProvider(
        boto3_client=lambda_session().client("secretsmanager", config=AWS_CONFIG)
    )


def read_workspaces(
    settings: Settings,
    session: boto3.session.Session,
    secrets: parameters.SecretsProvider | None = None,
) -> tuple[list[Workspace], list[InvalidEntry]]:
    """The secret's workspaces (cached for SECRET_MAX_AGE_SECONDS by the provider)."""
    provider = secrets or parameters.SecretsProvider(
        boto3_client=session.client("secretsmanager", config=AWS_CONFIG)
    )
    document = provider.get(settings.secret_id, max_age=settings.secret_max_age_seconds)
    return parse_secret(document)  # type: ignore[arg-type]


def new_run(
    settings: Settings, clock: Clock, ends_at: datetime, session: boto3.session.Session
) -> RunContext:
    """What one export shares: its id, window end, deadline, clock and AWS adapters."""
    sink = S3Sink(
        LazyClient(lambda: session.client("s3", config=AWS_CONFIG)), settings.export_bucket
    )
    run = RunContext(
        settings=settings,
        run_id=uuid.uuid4().hex[:12],
        window_end=floor_second(clock.now()),
        deadline=Deadline(clock, ends_at, settings.stop_margin_seconds),
        clock=clock,
        store=CheckpointStore(
            session.client("dynamodb", config=AWS_CONFIG), settings.checkpoint_table, sink
        ),
        sink=sink,
        notifier=SqsNotifier(
            LazyClient(lambda: session.client("sqs", config=AWS_CONFIG)),
            settings.notify_queue_url,
            clock,
        ),
    )
    if run.deadline.margin_seconds < run.deadline.configured_margin:
        logger.warning(
            "stop margin scaled to the time this invocation has",
            configured_seconds=run.deadline.configured_margin,
            used_seconds=round(run.deadline.margin_seconds, 1),
        )
    return run


def leadlex_http(settings: Settings) -> Callable[[str], AbstractContextManager[httpx.Client]]:
    """The real API client factory: one httpx.Client per key."""

    def http_for(api_key: str) -> AbstractContextManager[httpx.Client]:
        return build_http_client(settings.api_url, api_key, settings.http_timeout_seconds)

    return http_for
