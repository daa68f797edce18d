"""The local stack over real HTTP: a moto server process and the LeadLex sandbox on loopback.

Both start on free ports for the test session and stop with it; each test gets an empty moto
(reset), fresh AWS resources and its own sandbox world.

moto enforces IAM here. The test's own setup and assertions run as an administrator
(`Stack.session`); the exporter runs with the credentials of a role whose only policy is
WorkerFunction's and DispatcherFunction's from template.yaml, so a call the template does not
allow fails as in AWS.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from leadlex_sandbox import Clock, SandboxServer, World
from leadlex_sandbox.store import EventFilter

from tests.conftest import REGION, Stack, create_stack, exporter_resources
from tests.iam_policy import (
    Administrator,
    create_administrator,
    function_role,
    function_statements,
)
from tests.notification_schema import check_body


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test below this folder is marked `integration` (a conftest's pytestmark is
    ignored: pytest reads that name in test modules only)."""
    here = Path(__file__).parent
    for item in items:
        if item.path.is_relative_to(here):
            item.add_marker(pytest.mark.integration)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and moto's module
        [sys.executable, "-m", "scripts.moto_locking", "-H", "127.0.0.1", "-p", str(port)],
        cwd=os.path.join(os.path.dirname(__file__), "..", ".."),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                httpx.get(url + "/moto-api/", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        else:
            raise RuntimeError("moto server did not start")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def aws_env(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Administrator:
    """An empty moto that checks IAM, and an administrator to set it up."""
    httpx.post(moto_url + "/moto-api/reset", timeout=10)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    # moto authorizes nothing until it has identities: create the administrator unchecked,
    # then check every request (reset-auth N: the first N requests go unchecked).
    httpx.post(moto_url + "/moto-api/reset-auth", content=b"inf", timeout=10)
    admin = create_administrator(boto3.session.Session(region_name=REGION))
    httpx.post(moto_url + "/moto-api/reset-auth", content=b"0", timeout=10)
    return admin


class SchemaCheckedStack(Stack):
    """Every notification read from the queue must match docs/schemas/notification.schema.json."""

    def messages(self) -> list[dict[str, Any]]:
        messages = super().messages()
        for message in messages:
            check_body(message["Body"])
        return messages


@pytest.fixture
def live_stack(aws_env: Administrator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """The stack, created by the administrator; the tick (dispatcher, the work queue's event
    source, worker: one process here) runs as a role with both functions' statements.
    Afterwards, the notifications the test left on the queue are checked against the schema
    (those it read were checked as it read them)."""
    created = create_stack(aws_env.session)
    stack = SchemaCheckedStack(**{f.name: getattr(created, f.name) for f in fields(created)})
    resources = exporter_resources(stack)
    run_as_function(
        aws_env,
        "ExporterFunctions",
        function_statements("WorkerFunction", resources)
        + [  # Sids are unique within one policy
            {**statement, "Sid": "Dispatcher" + statement.get("Sid", "")}
            for statement in function_statements("DispatcherFunction", resources)
        ],
        monkeypatch,
    )
    yield stack
    stack.messages()


def run_as_function(
    admin: Administrator, function: str, statements: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The role's credentials in the environment: what the code under test (in process, or
    the runner's child process) reads, as in Lambda."""
    from leadlex_exporter import runtime

    for name, value in function_role(admin, function, statements).items():
        monkeypatch.setenv(name, value)
    # A warm Lambda sandbox keeps its session (and its credentials): each test is a new one.
    runtime.lambda_session.cache_clear()
    runtime.warm_secrets.cache_clear()


@dataclass
class Sandbox:
    world: World
    server: SandboxServer

    @property
    def url(self) -> str:
        return self.server.base_url

    def truth(self, campaign_id: str, until: datetime) -> dict[str, dict[str, Any]]:
        """Every event of the campaign visible now with a timestamp up to `until`, by id."""
        events = self.world._campaign(campaign_id).events
        events.reveal(int(self.world.clock.now().timestamp() * 1_000_000))
        wanted = EventFilter(to_micros=int(until.timestamp() * 1_000_000))
        payloads, _ = events.page(wanted, 1, 10**9)
        return {e["id"]: e for e in (json.loads(p) for p in payloads)}

    def event_calls(self, workspace: str | None = None) -> int:
        calls = self.world.stats()["calls"]
        return sum(
            1
            for c in calls
            if c["path"].endswith("/events") and (workspace is None or c["workspace"] == workspace)
        )


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    world = World(clock=Clock())
    server = SandboxServer(world).start()
    try:
        yield Sandbox(world, server)
    finally:
        server.stop()


class FakeContext:
    """What the Lambda runtime passes: a name, a request id and the time left."""

    function_name = "leadlex-exporter"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:leadlex-exporter"
    aws_request_id = "00000000-0000-4000-8000-000000000000"

    def __init__(self, seconds: float = 900):
        self.deadline = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return int((self.deadline - time.monotonic()) * 1000)


def scheduled_event() -> dict[str, Any]:
    with open(
        os.path.join(os.path.dirname(__file__), "..", "..", "events", "scheduled-tick.json")
    ) as f:
        return json.load(f)


def invoke(
    stack: Stack,
    sandbox: Sandbox,
    monkeypatch: pytest.MonkeyPatch,
    seconds: float = 900,
    **env: str,
) -> dict[str, Any]:
    """A tick exactly as Lambda runs it: the dispatcher's handler with the scheduled event,
    then the work queue drained into the worker's batch processing, a context of `seconds`
    per worker invocation. The result: the dispatcher's and every worker run's summary."""
    from leadlex_exporter.clock import SystemClock
    from leadlex_exporter.dispatcher import lambda_handler
    from leadlex_exporter.key_export import KeyExport
    from leadlex_exporter.settings import Settings
    from leadlex_exporter.worker import process_batch
    from scripts.event_source import EventSource, LambdaContext, Recorder, tick_result

    for name, value in stack.env(LEADLEX_API_URL=sandbox.url, **env).items():
        monkeypatch.setenv(name, value)
    dispatched = lambda_handler(scheduled_event(), FakeContext(60))
    settings = Settings.from_env(os.environ)
    session = boto3.session.Session()
    recorder = Recorder(KeyExport(settings, SystemClock(), session))
    EventSource(session.client("sqs"), stack.work_queue_url).drain(
        lambda event, context: process_batch(event, context, recorder),
        lambda: LambdaContext(seconds),
    )
    return tick_result(dispatched, recorder.summaries, recorder.skipped)


def run_process(
    stack: Stack, sandbox: Sandbox, *args: str, wait: bool = True, **env: str
) -> subprocess.Popen[str] | tuple[int, dict[str, Any] | None]:
    """The runner in a child process; (exit code, summary or None when it was killed)."""
    environment = {**os.environ, **stack.env(LEADLEX_API_URL=sandbox.url, **env)}
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "tests.integration.runner", *args],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=os.path.join(os.path.dirname(__file__), "..", ".."),
    )
    if not wait:
        return process
    return finish(process)


def finish(process: subprocess.Popen[str]) -> tuple[int, dict[str, Any] | None]:
    out, _ = process.communicate(timeout=300)
    lines = [line for line in out.splitlines() if line.startswith('{"status"')]
    return process.returncode, json.loads(lines[-1]) if lines else None
