"""Lambda entry point of the work queue: one API key's workspaces per work item.

The queue's event source mapping hands over SQS batches (BatchSize 1 in template.yaml). Each
record takes the key's lease (key_lease.py), runs the exporter on the workspaces of that key in
the secret, and lets the lease go. A record fails (it returns in batchItemFailures, comes back
after the visibility timeout and lands in the dead-letter queue after maxReceiveCount) only when
the export could not run: a body that is no work item, an unreadable secret, an error outside
the exporter's per-workspace isolation, an invocation that died. What the exporter isolates and
reports (a revoked key, a missing campaign) completes the item: the next tick is its retry.
A key whose lease another worker holds is served by that worker: the item is done.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError

from leadlex_common.environment import trace_sdk_calls
from leadlex_common.tracing import run_traced
from leadlex_exporter import metrics, targets
from leadlex_exporter.clock import Clock, SystemClock
from leadlex_exporter.context import RunContext
from leadlex_exporter.control import ControlStore
from leadlex_exporter.errors import (
    ExporterError,
    KeyBusyError,
    LeadLexError,
    ReplayRefusedError,
)
from leadlex_exporter.exporter import Exporter, HttpFactory
from leadlex_exporter.key_lease import KeyLease
from leadlex_exporter.leadlex import LeadLexClient
from leadlex_exporter.quota import QuotaGuard
from leadlex_exporter.replay import replay
from leadlex_exporter.runtime import (
    AWS_CONFIG,
    lambda_session,
    leadlex_http,
    new_run,
    read_workspaces,
    warm_secrets,
)
from leadlex_exporter.settings import Settings
from leadlex_exporter.summary import RunSummary, WorkspaceResult
from leadlex_exporter.targets import Target
from leadlex_exporter.tracing import sdk_tracer
from leadlex_exporter.work_items import WorkItem
from leadlex_exporter.workspaces import Workspace

SERVICE = "leadlex-exporter"  # as POWERTOOLS_SERVICE_NAME in template.yaml
logger = Logger()

Export = Callable[[WorkItem, timedelta], RunSummary | None]
REPLAY_ERRORS = (ReplayRefusedError, LeadLexError, ClientError, BotoCoreError)
# An on-demand request whose key another worker holds: waits this long in its invocation, then
# returns to the queue for RETRY_SECONDS (three receives: about nine minutes in all).
KEY_WAIT_SECONDS = 60
KEY_WAIT_STEP_SECONDS = 5
RETRY_SECONDS = 120


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    if trace_sdk_calls(os.environ):
        return run_traced(sdk_tracer(SERVICE), handle, event, context)
    return handle(event, context)


def handle(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    settings = Settings.from_env(os.environ)
    export = KeyExport(settings, SystemClock(), lambda_session(), secrets=warm_secrets())
    return process_batch(event, context, export, export.retry_soon)


def process_batch(
    event: dict[str, Any],
    context: LambdaContext,
    export: Export,
    retry_soon: Callable[[str], None] | None = None,
) -> PartialItemFailureResponse:
    """Each record on its own; the failed ones back to the queue by message id. An on-demand
    request whose key stays busy comes back sooner (`retry_soon`: its receipt handle)."""
    # A whole batch that failed is answered like a partial one (every id listed), not raised:
    # SQS retries the same records either way, and the response says which.
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

    def record_handler(record: SQSRecord) -> None:
        work = WorkItem.from_body(record.body)
        time_left = timedelta(milliseconds=context.get_remaining_time_in_millis())
        try:
            export(work, time_left)
        except KeyBusyError:
            if retry_soon is not None:
                retry_soon(record.receipt_handle)
            raise

    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )


class KeyExport:
    """One work item: the key's workspaces, under the key's lease, through the exporter."""

    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        session: boto3.session.Session,
        http_factory: HttpFactory | None = None,
        secrets: parameters.SecretsProvider | None = None,
    ):
        self.settings = settings
        self.clock = clock
        self.session = session
        self.http_factory = http_factory or leadlex_http(settings)
        self.secrets = secrets

    def __call__(self, work: WorkItem, time_left: timedelta) -> RunSummary | None:
        """The run's summary; None when the key left the secret or another worker holds it."""
        workspaces, _ = read_workspaces(self.settings, self.session, self.secrets)
        mine = [w for w in workspaces if w.key_fingerprint == work.fingerprint]
        if not mine:
            logger.warning("key no longer in the secret", key_fingerprint=work.fingerprint)
            return None
        run = new_run(self.settings, self.clock, self.clock.now() + time_left, self.session)
        lease = KeyLease(
            self.session.client("dynamodb", config=AWS_CONFIG), self.settings.checkpoint_table
        )
        until_ms = int(run.deadline.ends_at.timestamp() * 1000)
        now_ms = int(self.clock.now().timestamp() * 1000)
        if not lease.acquire(work.fingerprint, run.run_id, until_ms, now_ms):
            logger.info(
                "key busy in another worker", key_fingerprint=work.fingerprint, run_id=run.run_id
            )
            if work.target is None or not self._wait_for_key(lease, work, run, until_ms):
                if work.target is not None:
                    # not served by the run in progress: back to the queue, soon (retry_soon)
                    raise KeyBusyError("the key is busy in another worker; the request waits")
                return None
        logger.info(
            "run started",
            run_id=run.run_id,
            key_fingerprint=work.fingerprint,
            workspaces=[w.name for w in mine],
            window_end=run.window_end.isoformat(),
        )
        target = self._target(work)
        if target is not None:
            mine = [w for w in mine if w.name == target.workspace]
        try:
            if target is not None and target.action == "replay":
                summary = self._replay(run, mine, target)
            else:
                summary = Exporter(run, self.http_factory).export(mine, [], target)
        finally:
            lease.release(work.fingerprint, run.run_id)
        self._record(summary, work.fingerprint, target)
        metrics.publish(
            summary,
            self.settings.metrics_namespace,
            SERVICE,
            per_workspace=self.settings.workspace_metrics,
        )
        logger.info("run finished", summary=summary.as_dict())
        return summary

    def _replay(self, run: RunContext, mine: list[Workspace], target: Target) -> RunSummary:
        """A replay (replay.py) of each campaign named (or every campaign the workspace's plan
        knows), under the key's lease, on the backfill share of the key's quota; a campaign
        that cannot be replayed now fails alone, with the reason."""
        summary = RunSummary(run_id=run.run_id)
        start, end = target.start, target.end
        assert start is not None  # noqa: S101 - parse() sets both for a replay
        assert end is not None  # noqa: S101
        for workspace in mine:
            result = WorkspaceResult(name=workspace.name)
            summary.workspaces.append(result)
            settings = self.settings
            guard = QuotaGuard(
                run.store.load_quota(workspace.key_fingerprint),
                self.clock,
                reserve_percent=settings.quota_reserve_percent,
                fresh_reserve_percent=settings.fresh_reserve_percent,
                max_calls_per_minute=settings.max_calls_per_minute,
                interval_seconds=settings.run_interval_minutes * 60.0,
            )
            campaigns = target.campaigns or tuple(
                run.store.load_plan(workspace.name).plan.campaigns
            )
            result.campaigns = len(campaigns)
            calls = guard.calls
            try:
                with self.http_factory(workspace.api_key) as http:
                    client = LeadLexClient(
                        http, guard, run.deadline, minute_window=settings.rate_limit_wait_seconds
                    )
                    for campaign_id in campaigns:
                        try:
                            done = replay(run, client, workspace.name, campaign_id, start, end)
                        except (
                            ReplayRefusedError,
                            LeadLexError,
                            ClientError,
                            BotoCoreError,
                        ) as exc:
                            message = str(exc) if isinstance(exc, ExporterError) else repr(exc)
                            result.failed_campaigns[campaign_id] = message[:300]
                            continue
                        result.replays[campaign_id] = done.to_json()
                        result.stats.exported += done.records_added
                        if done.stopped_early:
                            summary.stopped_early = summary.stopped_early or done.stopped_early
                            break
            finally:
                result.api_calls = guard.calls - calls
                result.quota_remaining = guard.state.remaining
                ttl = int((self.clock.now() + timedelta(days=3)).timestamp())
                try:
                    run.store.save_quota(workspace.key_fingerprint, guard.state, ttl)
                except (ClientError, BotoCoreError):
                    logger.warning("quota state not saved", workspace=workspace.name)
        return summary

    def _wait_for_key(
        self, lease: KeyLease, work: WorkItem, run: RunContext, until_ms: int
    ) -> bool:
        """An on-demand request waits a little for the key (a scheduled run is usually short)."""
        for _ in range(int(KEY_WAIT_SECONDS // KEY_WAIT_STEP_SECONDS)):
            self.clock.sleep(KEY_WAIT_STEP_SECONDS)
            now_ms = int(self.clock.now().timestamp() * 1000)
            if lease.acquire(work.fingerprint, run.run_id, until_ms, now_ms):
                return True
        return False

    def retry_soon(self, receipt_handle: str) -> None:
        """An on-demand request the busy key held back: visible again in RETRY_SECONDS instead
        of the queue's visibility timeout (maxReceiveCount still bounds its tries)."""
        if not self.settings.work_queue_url:
            return
        try:
            self.session.client("sqs", config=AWS_CONFIG).change_message_visibility(
                QueueUrl=self.settings.work_queue_url,
                ReceiptHandle=receipt_handle,
                VisibilityTimeout=RETRY_SECONDS,
            )
        except (ClientError, BotoCoreError) as exc:
            logger.warning("request left for the visibility timeout", error=type(exc).__name__)

    def _target(self, work: WorkItem) -> Target | None:
        if work.target is None:
            return None
        target = targets.parse(work.target, self.clock.now().date())
        logger.info("on-demand run", target=target.to_json())
        return target

    def _record(self, summary: RunSummary, fingerprint: str, target: Target | None) -> None:
        """Each workspace's last run, for `status` (control.py); a failure here loses only that."""
        controls = ControlStore(
            self.session.client("dynamodb", config=AWS_CONFIG), self.settings.checkpoint_table
        )
        finished = self.clock.now().replace(microsecond=0).isoformat()
        for outcome in summary.as_dict()["workspaces"]:
            outcome = {
                **outcome,
                "run_id": summary.run_id,
                "finished_at": finished,
                "key_fingerprint": fingerprint,
                "target": target.to_json() if target is not None else None,
            }
            try:
                controls.record_run(outcome["workspace"], outcome)
            except (ClientError, BotoCoreError) as exc:
                logger.warning("run status not recorded", error=type(exc).__name__)
