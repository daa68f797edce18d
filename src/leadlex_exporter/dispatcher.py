"""Lambda entry point of the schedule: one work item per API key onto the work queue.

The worker (worker.py) exports each key's workspaces in its own invocation, run by the work
queue's event source mapping. Invalid secret entries are reported here, by position and name.
A payload with an `action` (targets.py: sync, backfill, replay; the CLI sends them) is checked
here and becomes one work item, for the named workspace's key only; a bad one raises a
ConfigurationError that names the problem, and nothing is queued.
"""

from __future__ import annotations

import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.typing import LambdaContext

from leadlex_common.environment import trace_sdk_calls
from leadlex_common.tracing import run_traced
from leadlex_exporter import metrics, targets
from leadlex_exporter.clock import Clock, SystemClock
from leadlex_exporter.errors import ConfigurationError
from leadlex_exporter.runtime import AWS_CONFIG, lambda_session, read_workspaces, warm_secrets
from leadlex_exporter.settings import Settings
from leadlex_exporter.tracing import sdk_tracer
from leadlex_exporter.work_items import send_work, work_items

SERVICE = "leadlex-exporter"  # as POWERTOOLS_SERVICE_NAME in template.yaml
logger = Logger()


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if trace_sdk_calls(os.environ):
        return run_traced(sdk_tracer(SERVICE), handle, event, context)
    return handle(event, context)


def handle(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    clock = SystemClock()
    target = targets.parse(event, clock.now().date()) if targets.is_targeted(event) else None
    settings = Settings.from_env(os.environ)
    return dispatch(settings, clock, lambda_session(), secrets=warm_secrets(), target=target)


def dispatch(
    settings: Settings,
    clock: Clock,
    session: boto3.session.Session,
    secrets: parameters.SecretsProvider | None = None,
    target: targets.Target | None = None,
) -> dict[str, Any]:
    """Everything one tick does; the result names the keys' workspaces, never a key."""
    if not settings.work_queue_url:
        raise ConfigurationError("invalid configuration: WORK_QUEUE_URL is not set")
    workspaces, invalid = read_workspaces(settings, session, secrets)
    for entry in invalid:
        logger.error("invalid secret entry", entry=entry.label, problem=entry.problem)
    if target is not None:
        workspaces = [w for w in workspaces if w.name == target.workspace]
        if not workspaces:
            raise ConfigurationError(
                f"invalid request: no workspace named {target.workspace!r} in the secret"
            )
        invalid = []  # the request names a valid workspace; the tick reports the others
    items = work_items(workspaces, clock.now(), target.to_json() if target else None)
    send_work(session.client("sqs", config=AWS_CONFIG), settings.work_queue_url, items)
    metrics.publish_dispatch(
        len(items),
        len(invalid),
        settings.metrics_namespace,
        SERVICE,
    )
    result: dict[str, Any] = {
        "status": "partial_failure" if invalid else "ok",
        "work_items": [
            {"fingerprint": i.fingerprint, "workspaces": list(i.workspaces)} for i in items
        ],
        "invalid_entries": [{"entry": e.label, "problem": e.problem} for e in invalid],
    }
    if target is not None:
        result["target"] = target.to_json()
    logger.info("work dispatched", keys=len(items), workspaces=len(workspaces))
    return result
