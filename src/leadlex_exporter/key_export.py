"""One work item of the worker: one API key's workspaces, under the key's lease.

The item's key must still be in the secret; its lease (key_lease.py) is taken for the
invocation's deadline, so one worker at a time writes the key's quota state. A scheduled item
whose key another worker holds is done (that worker serves it); an on-demand request (targets.py)
waits a minute for the key, then goes back to the work queue, visible again in RETRY_SECONDS.
"""

from __future__ import annotations

from datetime import timedelta

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities import parameters
from botocore.exceptions import BotoCoreError, ClientError

from leadlex_exporter import metrics, targets
from leadlex_exporter.clock import Clock
from leadlex_exporter.context import RunContext
from leadlex_exporter.control import ControlStore
from leadlex_exporter.errors import KeyBusyError
from leadlex_exporter.exporter import Exporter
from leadlex_exporter.key_lease import KeyLease
from leadlex_exporter.leadlex import HttpFactory
from leadlex_exporter.replay import replay_workspaces
from leadlex_exporter.runtime import AWS_CONFIG, leadlex_http, new_run, read_workspaces
from leadlex_exporter.settings import Settings
from leadlex_exporter.summary import RunSummary
from leadlex_exporter.targets import Target
from leadlex_exporter.work_items import WorkItem

SERVICE = "leadlex-exporter"  # as POWERTOOLS_SERVICE_NAME in template.yaml
logger = Logger(child=True)

# An on-demand request whose key another worker holds: waits this long in its invocation, then
# returns to the queue for RETRY_SECONDS (three receives: about nine minutes in all).
KEY_WAIT_SECONDS = 60
KEY_WAIT_STEP_SECONDS = 5
RETRY_SECONDS = 120


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
        if not self._take_key(lease, work, run):
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
                summary = replay_workspaces(
                    run, self.settings, self.clock, self.http_factory, mine, target
                )
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

    def _take_key(self, lease: KeyLease, work: WorkItem, run: RunContext) -> bool:
        """The key's lease until the run's deadline. Another worker holds it: a scheduled item
        is left to it (False); an on-demand request waits for it, or raises KeyBusyError."""
        until_ms = int(run.deadline.ends_at.timestamp() * 1000)
        now_ms = int(self.clock.now().timestamp() * 1000)
        if lease.acquire(work.fingerprint, run.run_id, until_ms, now_ms):
            return True
        logger.info(
            "key busy in another worker", key_fingerprint=work.fingerprint, run_id=run.run_id
        )
        if work.target is None:
            return False
        if not self._wait_for_key(lease, work, run, until_ms):
            # not served by the run in progress: back to the queue, soon (retry_soon)
            raise KeyBusyError("the key is busy in another worker; the request waits")
        return True

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
