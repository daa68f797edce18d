"""One run over every workspace of the secret: campaigns, leases, the two phases, the summary.

Failures stay where they happen: a bad key fails its workspace, a missing campaign fails that
campaign, and the rest of the run goes on. Only the deadline stops everything.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import timedelta

import httpx
from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from leadlex_exporter.checkpoints import Checkpoint
from leadlex_exporter.context import CampaignStats, RunContext
from leadlex_exporter.errors import (
    AuthenticationError,
    DeliveryError,
    ExporterError,
    LeadLexError,
    LeaseHeldError,
    LeaseLostError,
    OutOfTimeError,
    PermissionDeniedError,
    QuotaExhaustedError,
)
from leadlex_exporter.group import CommitGroup
from leadlex_exporter.leadlex import EventsPage, LeadLexClient
from leadlex_exporter.quota import Purpose, QuotaGuard
from leadlex_exporter.recovery import GroupRecovery
from leadlex_exporter.summary import RunSummary, WorkspaceResult
from leadlex_exporter.sync import CampaignSync
from leadlex_exporter.workspaces import InvalidEntry, Workspace

logger = Logger(child=True)

ACQUIRE_WORKERS = 8
LANES = 3  # campaigns synced side by side (see Exporter._phase)
CLOCK_SKEW_WARN_SECONDS = 60
HttpFactory = Callable[[str], AbstractContextManager[httpx.Client]]
CAMPAIGN_ERRORS = (
    LeadLexError,
    DeliveryError,
    LeaseLostError,
    ClientError,
    BotoCoreError,
    ValueError,
)


class Exporter:
    def __init__(self, run: RunContext, http_factory: HttpFactory):
        self.run = run
        self.http_factory = http_factory
        self.guards: dict[str, QuotaGuard] = {}

    def export(self, workspaces: list[Workspace], invalid: list[InvalidEntry]) -> RunSummary:
        summary = RunSummary(run_id=self.run.run_id, invalid_entries=list(invalid))
        for entry in invalid:
            logger.error("invalid secret entry", entry=entry.label, problem=entry.problem)
        for workspace in workspaces:
            result = WorkspaceResult(name=workspace.name)
            summary.workspaces.append(result)
            if summary.stopped_early:
                result.status = "stopped"
                continue
            try:
                self._export_workspace(workspace, result)
            except OutOfTimeError:
                result.status, summary.stopped_early = "stopped", "time"
                logger.warning("deadline near, stopping the run", workspace=workspace.name)
        return summary

    def _guard(self, workspace: Workspace) -> QuotaGuard:
        fingerprint = workspace.key_fingerprint
        if fingerprint not in self.guards:
            settings = self.run.settings
            self.guards[fingerprint] = QuotaGuard(
                self.run.store.load_quota(fingerprint),
                self.run.clock,
                reserve_percent=settings.quota_reserve_percent,
                fresh_reserve_percent=settings.fresh_reserve_percent,
                max_calls_per_minute=settings.max_calls_per_minute,
            )
        return self.guards[fingerprint]

    def _export_workspace(self, workspace: Workspace, result: WorkspaceResult) -> None:
        guard = self._guard(workspace)
        calls_before = guard.calls
        if not guard.allows(Purpose.FRESH):
            result.status, result.quota_limited = "quota_wait", True
            logger.warning(
                "quota spent, waiting for reset",
                workspace=workspace.name,
                reset_at=guard.state.reset_at,
            )
            return
        syncs: list[CampaignSync] = []
        group = CommitGroup(self.run, workspace.name)
        try:
            with self.http_factory(workspace.api_key) as http:
                client = LeadLexClient(http, guard, self.run.deadline, parallel=LANES + 1)
                campaign_ids = workspace.campaigns or tuple(
                    c["id"] for c in client.list_campaigns()
                )
                result.campaigns = len(campaign_ids)
                guard.fresh_calls_per_run += len(campaign_ids) + (0 if workspace.campaigns else 1)
                opening = Opening(self, workspace, campaign_ids, client, group, result)
                try:
                    for purpose in (Purpose.FRESH, Purpose.BACKFILL):
                        self._phase(opening, purpose, group, result)
                    self._commit_last(group, result)
                finally:
                    syncs = opening.close()
                    client.close()
                    result.api_clock_skew = client.clock_skew
                    _check_clock(workspace.name, client.clock_skew)
        except (AuthenticationError, PermissionDeniedError) as exc:
            result.status, result.error = "failed", str(exc)
            logger.error("workspace failed", workspace=workspace.name, error=str(exc))
        except QuotaExhaustedError:
            result.quota_limited = True
        except LeadLexError as exc:
            result.status, result.error = "failed", str(exc)
            logger.error("campaign list failed", workspace=workspace.name, error=str(exc))
        except (ClientError, BotoCoreError) as exc:
            result.status, result.error = "failed", f"AWS error ({type(exc).__name__})"
            logger.error("workspace failed on AWS", workspace=workspace.name, error=str(exc))
        finally:
            self._commit_quietly(group, result)
            for sync in syncs:
                result.add(sync.stats)
                result.backfilling += sync.needs_backfill
                self._release(sync)
            result.api_calls = guard.calls - calls_before
            result.quota_remaining = guard.state.remaining
            self._save_quota(workspace, guard)

    def _phase(
        self,
        syncs: Iterable[CampaignSync],
        purpose: Purpose,
        group: CommitGroup,
        result: WorkspaceResult,
    ) -> None:
        """One phase over the campaigns, LANES at a time: a page of one is processed while the
        next page of the other is on its way (the pages of one walk never overlap, see
        CampaignSync.steps), and the first page of the campaign after them is fetched ahead."""
        todo = (s for s in syncs if s.campaign_id not in result.failed_campaigns)
        lanes: list[_Lane] = []
        upcoming = next(todo, None)  # its lease and recovery first, then its first page
        try:
            while True:
                while len(lanes) < LANES and upcoming is not None:
                    sync, upcoming = upcoming, next(todo, None)
                    if sync.campaign_id in result.failed_campaigns or sync.stopped:
                        continue
                    lane = _Lane(sync, sync.steps(purpose), purpose)
                    lanes.append(lane)
                    self._step(lane, lanes, group, result, upcoming)
                if not lanes:
                    return
                self._step(_ready(lanes), lanes, group, result)
        except _QuotaReached:
            return
        finally:
            for lane in lanes:
                lane.steps.close()

    def _step(
        self,
        lane: _Lane,
        lanes: list[_Lane],
        group: CommitGroup,
        result: WorkspaceResult,
        upcoming: CampaignSync | None = None,
    ) -> None:
        """One step of a campaign (its start, or a page): its end or its failure takes it out
        of `lanes`; a spent quota ends the phase; a bad key ends the workspace."""
        sync = lane.sync
        try:
            if lane.future is None:
                if upcoming is not None:
                    upcoming.prefetch(lane.purpose)
                lane.future = next(lane.steps)
            else:
                lane.advance()
        except StopIteration:
            lanes.remove(lane)
        except QuotaExhaustedError:
            result.quota_limited = True
            logger.info(
                "quota budget reached", workspace=sync.workspace, purpose=lane.purpose.value
            )
            raise _QuotaReached from None
        except (AuthenticationError, PermissionDeniedError):
            raise
        except CAMPAIGN_ERRORS as exc:
            lanes.remove(lane)
            lane.steps.close()
            self._fail_id(sync.workspace, sync.campaign_id, result, exc)
        finally:
            self._group_failures(group, result)

    def _group_failures(self, group: CommitGroup, result: WorkspaceResult) -> None:
        """Campaigns whose group could not be committed fail too (it stays pending for them)."""
        for campaign_id, message in group.failed.items():
            if campaign_id not in result.failed_campaigns:
                result.failed_campaigns[campaign_id] = message
                logger.error(
                    "campaign failed",
                    workspace=group.workspace,
                    campaign_id=campaign_id,
                    error=message,
                )
        group.failed.clear()

    def _commit_last(self, group: CommitGroup, result: WorkspaceResult) -> None:
        """The workspace's last group, and the one still committing. If one fails, its
        campaigns fail (it stays pending for the next run) and the run goes on."""
        try:
            group.flush()
        except CAMPAIGN_ERRORS as exc:
            logger.error("commit failed", workspace=group.workspace, error=type(exc).__name__)
        self._group_failures(group, result)

    def _commit_quietly(self, group: CommitGroup, result: WorkspaceResult) -> None:
        """Keep what was read before an error stopped the workspace."""
        try:
            group.flush()
        except Exception:  # noqa: BLE001 - each member's failure is recorded below
            logger.exception("could not keep progress", workspace=group.workspace)
        self._group_failures(group, result)

    def _fail_id(
        self, workspace: str, campaign_id: str, result: WorkspaceResult, exc: Exception
    ) -> None:
        message = str(exc) if isinstance(exc, ExporterError) else type(exc).__name__
        result.failed_campaigns[campaign_id] = message
        logger.error("campaign failed", workspace=workspace, campaign_id=campaign_id, error=message)

    def _release(self, sync: CampaignSync) -> None:
        if not sync.released:
            self._release_pk(sync.cp.pk, sync.campaign_id)

    def _release_pk(self, pk: str, campaign_id: str) -> None:
        try:
            self.run.store.release(pk, self.run.run_id)
        except (ClientError, BotoCoreError):
            logger.warning(
                "lease not released; it expires at the deadline", campaign_id=campaign_id
            )

    def _save_quota(self, workspace: Workspace, guard: QuotaGuard) -> None:
        ttl = int((self.run.clock.now() + timedelta(days=3)).timestamp())
        try:
            self.run.store.save_quota(workspace.key_fingerprint, guard.state, ttl)
        except (ClientError, BotoCoreError):
            logger.warning("quota state not saved", workspace=workspace.name)


class _QuotaReached(Exception):
    """The phase ends: the key's budget for it is spent."""


@dataclass(eq=False)
class _Lane:
    """A campaign being synced: its phase's steps and the page it waits for."""

    sync: CampaignSync
    steps: Generator[Future[EventsPage], EventsPage, None]
    purpose: Purpose
    future: Future[EventsPage] | None = None

    def advance(self) -> None:
        """Hand the page in (or the error that came instead); the next page's future back."""
        assert self.future is not None  # noqa: S101 - lanes are listed once started
        try:
            page = self.future.result()
        except Exception as exc:  # noqa: BLE001 - re-raised in the walk, where it waits
            self.future = self.steps.throw(exc)
        else:
            self.future = self.steps.send(page)


def _check_clock(workspace: str, skew: float | None) -> None:
    """Windows are cut by this function's clock and events are stamped by the API's. An API
    clock behind ours takes from the margin for late events (LOOKBACK_MINUTES); one ahead of
    ours only delays events. Either is worth a look past a minute."""
    if skew is not None and abs(skew) > CLOCK_SKEW_WARN_SECONDS:
        logger.warning(
            "the API's clock and this function's disagree",
            workspace=workspace,
            api_clock_ahead_seconds=round(skew),
        )


def _ready(lanes: list[_Lane]) -> _Lane:
    """The first lane whose page is in, else the first to get one."""
    futures = [lane.future for lane in lanes if lane.future is not None]
    if not any(f.done() for f in futures):
        wait(futures, return_when=FIRST_COMPLETED)
    return next(lane for lane in lanes if lane.future is None or lane.future.done())


class Opening:
    """The campaigns of a workspace, leased in the background (ACQUIRE_WORKERS round trips at
    a time) and made into syncs in order as a phase reaches them, so the first campaigns sync
    while the later leases are still being taken. A campaign a crashed run left pending is
    settled (recovery.py) before it syncs."""

    def __init__(
        self,
        exporter: Exporter,
        workspace: Workspace,
        campaign_ids: tuple[str, ...],
        client: LeadLexClient,
        group: CommitGroup,
        result: WorkspaceResult,
    ):
        self.exporter = exporter
        self.run = exporter.run
        self.workspace = workspace
        self.client = client
        self.group = group
        self.result = result
        self.syncs: list[CampaignSync] = []
        self._until = int(self.run.deadline.ends_at.timestamp() * 1000)
        self._pool = ThreadPoolExecutor(max_workers=ACQUIRE_WORKERS)
        self._leases = [(c, self._pool.submit(self._acquire, c)) for c in campaign_ids]
        self._taken = 0

    def __iter__(self) -> Iterator[CampaignSync]:
        index = 0
        while True:
            while index >= len(self.syncs) and self._taken < len(self._leases):
                self._take()
            if index >= len(self.syncs):
                return
            yield self.syncs[index]
            index += 1

    def close(self) -> list[CampaignSync]:
        """Wait for every lease request; leases no sync was made from are let go."""
        for campaign_id, lease in self._leases[self._taken :]:
            try:
                checkpoint = lease.result()
            except (LeaseHeldError, ClientError, BotoCoreError):
                continue
            self.exporter._release_pk(checkpoint.pk, campaign_id)
        self._taken = len(self._leases)
        self._pool.shutdown(wait=True)
        return self.syncs

    def _acquire(self, campaign_id: str) -> Checkpoint:
        now = int(self.run.clock.now().timestamp() * 1000)
        return self.run.store.acquire(
            self.workspace.name, campaign_id, self.run.run_id, self._until, now
        )

    def _take(self) -> None:
        campaign_id, lease = self._leases[self._taken]
        self._taken += 1
        name, result = self.workspace.name, self.result
        try:
            checkpoint = lease.result()
        except LeaseHeldError:
            result.busy_campaigns.append(campaign_id)
            logger.info(
                "campaign busy in another invocation", workspace=name, campaign_id=campaign_id
            )
            return
        except (ClientError, BotoCoreError) as exc:
            self.exporter._fail_id(name, campaign_id, result, exc)
            return
        stats = CampaignStats()
        if checkpoint.pending:
            try:
                GroupRecovery(self.run, name).recover(checkpoint, stats)
                checkpoint = self._acquire(campaign_id)  # the state after the group, read back
            except CAMPAIGN_ERRORS as exc:
                result.add(stats)
                self.exporter._fail_id(name, campaign_id, result, exc)
                self.exporter._release_pk(checkpoint.pk, campaign_id)
                return
        sync = CampaignSync(self.run, name, campaign_id, self.client, checkpoint, self.group)
        sync.stats = stats
        self.syncs.append(sync)
