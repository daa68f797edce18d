"""One run over every workspace of the secret: campaigns, leases, the two phases, the summary.

Failures stay where they happen: a bad key fails its workspace, a missing campaign fails that
campaign, and the rest of the run goes on. Only the deadline stops everything.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import timedelta

import httpx
from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from leadlex_exporter.checkpoints import Checkpoint, PlanTooLargeError, StoredPlan
from leadlex_exporter.context import CampaignStats, RunContext
from leadlex_exporter.control import Control, ControlStore
from leadlex_exporter.errors import (
    AuthenticationError,
    ConfigurationError,
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
from leadlex_exporter.leadlex import PER_PAGE, EventsPage, HttpFactory, LeadLexClient
from leadlex_exporter.planner import Budget, CampaignPlan, Choice, PollPlanner, WorkspacePlan
from leadlex_exporter.quota import Purpose, QuotaGuard
from leadlex_exporter.recovery import GroupRecovery
from leadlex_exporter.summary import RunSummary, WorkspaceResult
from leadlex_exporter.sync import CampaignSync
from leadlex_exporter.targets import Target
from leadlex_exporter.timestamps import format_timestamp, require_timestamp
from leadlex_exporter.workspaces import InvalidEntry, Workspace

logger = Logger(child=True)

ACQUIRE_WORKERS = 8
LANES = 3  # campaigns synced side by side (see Exporter._phase)
CLOCK_SKEW_WARN_SECONDS = 60
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
        self.demands: dict[str, dict[str, int]] = {}
        self.bound_calls: dict[str, dict[str, int]] = {}  # per key, per workspace: the planner's
        self.target: Target | None = None
        self.paused: frozenset[str] = frozenset()  # the workspace's paused campaigns

    def export(
        self,
        workspaces: list[Workspace],
        invalid: list[InvalidEntry],
        target: Target | None = None,
    ) -> RunSummary:
        """Every workspace in turn; `target` (an on-demand `sync` or `backfill`) polls its
        campaigns now, or queues their history, on top of what the planner chose."""
        self.target = target
        summary = RunSummary(run_id=self.run.run_id, invalid_entries=list(invalid))
        for entry in invalid:
            logger.error("invalid secret entry", entry=entry.label, problem=entry.problem)
        sharing: dict[str, int] = {}
        for workspace in workspaces:
            sharing[workspace.key_fingerprint] = sharing.get(workspace.key_fingerprint, 0) + 1
        self.shares = {w.name: 1.0 / sharing[w.key_fingerprint] for w in workspaces}
        settings = self.run.settings
        self.planner = PollPlanner(
            interval=settings.run_interval_minutes * 60.0,
            max_interval=settings.max_poll_interval_minutes * 60.0,
            greedy=settings.poll_planning == "greedy",
            targets=(settings.freshness_p50_minutes * 60.0, settings.freshness_p95_minutes * 60.0),
        )
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
                history_share_percent=settings.history_share_percent,
                max_calls_per_minute=settings.max_calls_per_minute,
                interval_seconds=settings.run_interval_minutes * 60.0,
            )
        return self.guards[fingerprint]

    def _export_workspace(self, workspace: Workspace, result: WorkspaceResult) -> None:
        guard = self._guard(workspace)
        calls_before = guard.calls
        stored = self._load_plan(workspace, result)
        plan = stored.plan if stored else WorkspacePlan()
        now = self.run.window_end.timestamp()
        known = set(plan.campaigns)
        if workspace.campaigns is not None:
            plan.track(workspace.campaigns, now)
            plan.listed_at = None  # the configured set, not the list: list again if it goes
        control = self._may_run(workspace, plan, guard, result)
        if control is None:
            return
        done = _Done()
        group = CommitGroup(self.run, workspace.name)
        try:
            choice = done.choice = self._choose(workspace, plan, guard)
            backfills = self._backfills(plan, choice, guard, control)
            if not (choice.poll or choice.list_campaigns or backfills):
                result.deferred_campaigns = choice.deferred
                return  # nothing due: no call at all
            self._sync(workspace, plan, guard, control, group, result, done)
        except (AuthenticationError, PermissionDeniedError, ConfigurationError) as exc:
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
            for sync in done.syncs:
                result.add(sync.stats)
                result.backfilling += sync.needs_backfill
                self._release(sync)
            result.api_calls = guard.calls - calls_before
            result.quota_remaining = guard.state.remaining
            self._save_quota(workspace, guard)
            changed = (
                bool(done.syncs)
                or set(plan.campaigns) != known
                or result.campaign_list_refreshed
                or not stored
            )
            if stored is not None and done.choice is not None and changed:
                self._keep_plan(workspace, stored, done.syncs, done.choice, result)
            self._report_freshness(plan, done.choice, result)
            self._drop_met_requests(workspace, control, result)

    def _may_run(
        self, workspace: Workspace, plan: WorkspacePlan, guard: QuotaGuard, result: WorkspaceResult
    ) -> Control | None:
        """The workspace's control item, when it may run now: not paused, quota left."""
        try:
            control = self._control(workspace, plan)
        except (ClientError, BotoCoreError) as exc:
            result.status, result.error = "failed", f"AWS error ({type(exc).__name__})"
            logger.error("control item not read", workspace=workspace.name, error=str(exc))
            return None
        if control.workspace_paused:
            result.status = "paused"
            logger.info("workspace paused", workspace=workspace.name)
            return None
        self.paused = control.paused_campaigns
        result.paused_campaigns = sorted(c for c in plan.campaigns if c in self.paused)
        if not guard.allows(Purpose.FRESH):
            result.status, result.quota_limited = "quota_wait", True
            result.deferred_campaigns = list(plan.campaigns)
            logger.warning(
                "quota spent, waiting for reset",
                workspace=workspace.name,
                reset_at=guard.state.reset_at,
            )
            self._report_freshness(plan, None, result)
            return None
        return control

    def _sync(
        self,
        workspace: Workspace,
        plan: WorkspacePlan,
        guard: QuotaGuard,
        control: Control,
        group: CommitGroup,
        result: WorkspaceResult,
        done: _Done,
    ) -> None:
        """The calls of the run: the campaign list when due, then the fresh phase over the
        chosen campaigns and the backfill phase. `done` keeps the choice (made again after a
        new list) and the syncs made, also when an error stops the workspace."""
        now = self.run.window_end.timestamp()
        choice = done.choice
        assert choice is not None  # noqa: S101 - made before the first call
        backfills = self._backfills(plan, choice, guard, control)
        with self._open_http(workspace) as http:
            client = LeadLexClient(
                http,
                guard,
                self.run.deadline,
                parallel=LANES + 1,
                minute_window=self.run.settings.rate_limit_wait_seconds,
            )
            if choice.list_campaigns:
                listed = tuple(c["id"] for c in client.list_campaigns())
                plan.track(listed, now)
                plan.listed_at, plan.list_pages = now, max(1, -(-len(listed) // PER_PAGE))
                result.campaign_list_refreshed = True
                choice = done.choice = self._choose(workspace, plan, guard, listed=True)
                backfills = self._backfills(plan, choice, guard, control)
            result.campaigns = len(plan.campaigns)
            result.deferred_campaigns = [c for c in choice.deferred if c not in backfills]
            polled = set(choice.poll)
            leases = CampaignLeases(
                self, workspace, (*choice.poll, *backfills), client, group, result, control
            )
            try:
                due = (s for s in leases if s.campaign_id in polled)
                self._phase(due, Purpose.FRESH, group, result)
                self._phase(leases, Purpose.BACKFILL, group, result)
                self._commit_last(group, result)
            finally:
                done.syncs += leases.close()
                client.close()
                result.api_clock_skew = client.clock_skew
                _check_clock(workspace.name, client.clock_skew)
                if client.clock_skew is not None:  # the next runs widen windows by it
                    guard.state.api_behind = max(0.0, -client.clock_skew)

    def _control(self, workspace: Workspace, plan: WorkspacePlan) -> Control:
        """The workspace's control item; an on-demand `backfill` first adds its request."""
        controls = ControlStore(self.run.store.ddb, self.run.store.table)
        target = self._target_for(workspace)
        if target is not None and target.action == "backfill":
            ids = target.campaigns or tuple(plan.campaigns)
            controls.request_history(
                workspace.name,
                ids,
                format_timestamp(target.from_instant),
                format_timestamp(target.to_instant),
            )
        return controls.load(workspace.name)

    def _target_for(self, workspace: Workspace) -> Target | None:
        target = self.target
        return target if target is not None and target.workspace == workspace.name else None

    def _drop_met_requests(
        self, workspace: Workspace, control: Control, result: WorkspaceResult
    ) -> None:
        met = [c for c in result.history_met if c in control.history_requests]
        controls = ControlStore(self.run.store.ddb, self.run.store.table)
        for campaign_id in met:
            lo, hi = control.history_requests[campaign_id]
            try:
                controls.drop_history_request(workspace.name, campaign_id, lo, hi)
            except (ClientError, BotoCoreError):
                logger.warning("history request not dropped", campaign_id=campaign_id)

    def _open_http(self, workspace: Workspace) -> AbstractContextManager[httpx.Client]:
        """The workspace's HTTP client; a key httpx cannot put in a header fails the workspace
        (named, the key never shown) instead of the run."""
        try:
            return self.http_factory(workspace.api_key)
        except (UnicodeError, ValueError, TypeError):
            raise ConfigurationError(
                f"workspace {workspace.name!r}: its API key cannot be sent in an HTTP header"
            ) from None

    def _choose(
        self, workspace: Workspace, plan: WorkspacePlan, guard: QuotaGuard, listed: bool = False
    ) -> Choice:
        listing = workspace.campaigns is None
        ids = tuple(c for c in plan.campaigns if c not in self.paused)
        list_cost = plan.list_pages if listing and not listed else 0
        # What a run polling everything would cost, over every workspace of the key: the
        # share of the quota a backfill leaves for fresh polls (QuotaGuard.floor).
        demands = self.demands.setdefault(workspace.key_fingerprint, {})
        demands[workspace.name] = len(ids) + (plan.list_pages if listing else 0)
        guard.fresh_calls_per_run = sum(demands.values())
        state, now = guard.state, self.run.window_end.timestamp()
        budget = Budget.even(
            remaining=state.remaining,
            limit=state.limit,
            floor=guard.floor(Purpose.FRESH),
            reset_at=state.reset_at,
            now=now,
            interval=self.planner.interval,
            share=self.shares.get(workspace.name, 1.0),
            demand=len(ids) + list_cost,
        )
        choice = self.planner.choose(
            plan, ids, budget, now, listing and not listed, listed=listing and listed
        )
        bounds = self.bound_calls.setdefault(workspace.key_fingerprint, {})
        bounds[workspace.name] = choice.bound_calls
        guard.bound_calls = sum(bounds.values())
        target = self._target_for(workspace)
        if target is not None and target.action == "sync":
            # on demand: the named campaigns (or all) now, first; the planner's choice after
            wanted = [c for c in (target.campaigns or ids) if c not in self.paused]
            for campaign_id in wanted:  # a campaign named before the list has it
                plan.campaigns.setdefault(campaign_id, CampaignPlan(seen_at=now))
            poll = list(dict.fromkeys([*wanted, *choice.poll]))
            choice = replace(
                choice,
                poll=poll,
                deferred=[c for c in choice.deferred if c not in set(poll)],
                list_campaigns=choice.list_campaigns and not wanted,
            )
        if choice.starved:
            logger.warning(
                "the quota cannot poll every campaign within the maximum interval",
                workspace=workspace.name,
                campaigns=len(ids),
            )
        return choice

    def _backfills(
        self, plan: WorkspacePlan, choice: Choice, guard: QuotaGuard, control: Control
    ) -> list[str]:
        """Campaigns whose history is still to read (or asked for), not polled this run, when
        the backfill share of the quota allows it. A campaign with a history request is
        opened also without it: the request goes into its state."""
        polled = set(choice.poll)
        waiting = [
            c
            for c, p in plan.campaigns.items()
            if p.backfilling and c not in polled and not control.paused(c)
        ]
        asked = [
            c
            for c in control.history_requests
            if c not in polled and c not in set(waiting) and not control.paused(c)
        ]
        return [*(waiting if waiting and guard.allows(Purpose.BACKFILL) else []), *asked]

    def _load_plan(self, workspace: Workspace, result: WorkspaceResult) -> StoredPlan | None:
        try:
            return self.run.store.load_plan(workspace.name)
        except (ClientError, BotoCoreError, ValueError) as exc:
            logger.warning(
                "poll plan not read; every campaign is due",
                workspace=workspace.name,
                error=type(exc).__name__,
            )
            return None

    def _keep_plan(
        self,
        workspace: Workspace,
        stored: StoredPlan,
        syncs: list[CampaignSync],
        choice: Choice,
        result: WorkspaceResult,
    ) -> None:
        """What this run learnt, written with the plan; if another run wrote it meanwhile, its
        plan is read again and this run's news applied to it (once)."""
        now = self.run.window_end.timestamp()
        plan, polled = stored.plan, set(choice.poll)
        for sync in syncs:
            entry = plan.campaigns.setdefault(sync.campaign_id, CampaignPlan(seen_at=now))
            if sync.campaign_id in result.failed_campaigns or sync.stopped:
                continue
            if sync.campaign_id in polled and sync.caught_up:
                interval = choice.intervals.get(sync.campaign_id, self.planner.max_interval)
                entry.polled(
                    now, sync.watermark_seconds, sync.activity, interval, sync.window_activity
                )
                if sync.activity.events > 0:
                    plan.found_at = now
            entry.backfilling = sync.needs_backfill
        news = {s.campaign_id: plan.campaigns[s.campaign_id] for s in syncs}
        try:
            for _ in range(2):
                if self.run.store.save_plan(workspace.name, stored):
                    return
                again = self.run.store.load_plan(workspace.name)
                again.plan.campaigns.update(news)
                again.plan.found_at = max(
                    (t for t in (again.plan.found_at, plan.found_at) if t is not None),
                    default=None,
                )
                if result.campaign_list_refreshed:
                    again.plan.listed_at, again.plan.list_pages = plan.listed_at, plan.list_pages
                stored.plan, stored.version = again.plan, again.version
        except (ClientError, BotoCoreError, PlanTooLargeError) as exc:
            logger.warning(
                "poll plan not saved", workspace=workspace.name, error=type(exc).__name__
            )

    def _report_freshness(
        self, plan: WorkspacePlan, choice: Choice | None, result: WorkspaceResult
    ) -> None:
        """Lag (now minus the end of the last polled window) of the worst campaign, and when
        the next one is due."""
        now = self.run.clock.now().timestamp()
        lags = [
            now - (p.watermark if p.watermark is not None else p.seen_at)
            for c, p in plan.campaigns.items()
            if c not in self.paused
        ]
        result.max_lag_seconds = max(lags) if lags else None
        # by this run's intervals (the planner recomputes them every run, so the ones a poll
        # stored are out of date)
        intervals = choice.intervals if choice else {}
        dues = [
            self.planner.due_at(p, intervals[c]) if c in intervals else p.due_at
            for c, p in plan.campaigns.items()
            if c not in self.paused
        ]
        known = [d for d in dues if d is not None]
        result.next_due_at = min(known) if known else None
        result.polled_campaigns = len(choice.poll) if choice else 0

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
            if lane.purpose is Purpose.FRESH or sync.client.quota.state.exhausted:
                result.quota_limited = True
            else:
                result.backfill_waiting = True
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
        for campaign_id in sorted(group.interrupted):
            if campaign_id not in result.interrupted_campaigns:
                result.interrupted_campaigns.append(campaign_id)
                logger.warning(
                    "campaign stopped for this run: its pages shared a group with a failed one",
                    workspace=group.workspace,
                    campaign_id=campaign_id,
                )
        group.interrupted.clear()

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


@dataclass
class _Done:
    """What a workspace's run got to: its (last) choice and the syncs it made."""

    choice: Choice | None = None
    syncs: list[CampaignSync] = field(default_factory=list)


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


class CampaignLeases:
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
        control: Control,
    ):
        self.exporter = exporter
        self.run = exporter.run
        self.control = control
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
            except OutOfTimeError:  # the group stays pending for the next run
                result.add(stats)
                self.exporter._release_pk(checkpoint.pk, campaign_id)
                raise
        sync = CampaignSync(self.run, name, campaign_id, self.client, checkpoint, self.group)
        sync.stats = stats
        request = self.control.history_requests.get(campaign_id)
        if request is not None:
            met, outcome = sync.extend_history(*map(require_timestamp, request))
            result.requests[campaign_id] = outcome
            if met:
                result.history_met.append(campaign_id)
        self.syncs.append(sync)
