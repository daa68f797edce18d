"""Commits of one workspace: the events of many campaigns made durable together, exactly once.

A run adds every page it reads to the workspace's open *group*. A group is committed when it is
large enough (objects sized for Athena, SQS batches full) and when the workspace is done:
  1. DynamoDB, one transaction: every member campaign gets `pending` (its state after the
     group), fenced by its lease and seq; the first member's also holds the group's manifest
     (object keys and members), the others name that member
  2. S3: one object per event date (and one for quarantine), at keys fixed by (run, group)
  3. SQS: the rest of the group's notifications (full batches went out as they filled)
  4. DynamoDB, one transaction: every member's new state, seq + 1, `pending` removed
A crash leaves the group pending on all its members at once; recovery.py finishes it.

Steps 1-4 run on a committer thread while the next group fills; a group's commit starts only
once the one before it is done, since it builds on the state that one commits.

Records are attributed to their campaign by the `campaign_id` field the exporter adds. An event
whose own `campaign_id` field names another campaign makes its group a single-member one.

Every record also carries `exported_at` and `export_run` (EXPORT_FIELDS): the time the group was
formed (its first page joined; UTC, whole seconds) and the run's id, the same for every record
of the group's objects. Lines are compressed as pages arrive, so the time is fixed when the
group opens, not when it is written; the manifest keeps both, so recovery can tell them from
an event's own fields of those names (an event's own field always wins, as for `workspace`).
"""

from __future__ import annotations

import json
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from leadlex_exporter import sink_s3
from leadlex_exporter.checkpoints import MemberCommit, state_key
from leadlex_exporter.context import RunContext
from leadlex_exporter.errors import ExporterError
from leadlex_exporter.jsoncodec import encode
from leadlex_exporter.notify_sqs import Sends
from leadlex_exporter.objects import Objects
from leadlex_exporter.state import CampaignState, RecentIds
from leadlex_exporter.timestamps import format_timestamp, require_timestamp

if TYPE_CHECKING:
    from leadlex_exporter.sync import CampaignSync

logger = Logger(child=True)

MAX_MEMBERS = 100  # items in one DynamoDB transaction
SOFT_MEMBERS = 90
MAX_OPEN_OBJECTS = 64  # event dates in one group (each open one: up to 64 KB of lines + 32 KB tail)
# The leader's manifest (member keys and object keys) is checked before a page joins; one page
# can add 100 dates' keys past it, and the leader's own state (checkpoints.INLINE_STATE_BYTES):
# with the longest names that stays under DynamoDB's 400 KB item.
MAX_MANIFEST_BYTES = 150_000
# A group's notifications wait in memory until it is recorded as pending (notify_sqs.py):
# about 1 KB each, so a group commits once it holds this many.
MAX_HELD_NOTIFICATIONS = 10_000

# The exporter's fields after the event's own, in this order; an event's own field of one of
# these names is kept and the exporter's is left out.
CONTEXT_FIELDS = ("workspace", "campaign_id", "exported_at", "export_run")
EXPORT_FIELDS = ("exported_at", "export_run")


def dumps(value: Any) -> bytes:
    return encode(value) + b"\n"


@dataclass(slots=True)
class Record:
    """One new record of a page: an event (`problem` None) or one to keep aside."""

    raw: Any
    key: bytes
    instant: datetime | None
    problem: str | None


@dataclass
class Member:
    sync: CampaignSync
    suffix: bytes  # `,"workspace":..,"campaign_id":..,"exported_at":..,"export_run":..}`
    floor: datetime | None = None  # ids at or after this instant join the recent set
    unplaced_at: datetime | None = None
    adds: list[tuple[bytes, datetime]] = field(default_factory=list)
    exported: int = 0
    quarantined: int = 0
    notified: int = 0


@dataclass
class Sealed:
    """A group handed to the committer thread: everything its commit writes."""

    group_id: str
    members: list[Member]
    commits: list[MemberCommit]
    objects: Objects
    solo: bool
    sends: Sends  # its notifications, on their way
    exported_at: str  # what its records carry (with the run's id as export_run)


class CommitGroup:
    def __init__(self, run: RunContext, workspace: str):
        self.run = run
        self.workspace = workspace
        self.solo = False
        self.failed: dict[str, str] = {}  # campaigns whose group could not be committed
        self.interrupted: set[str] = set()  # stopped with the open group, not failed
        self.objects = Objects()
        self._committer: ThreadPoolExecutor | None = None
        self._inflight: tuple[Sealed, Future[None]] | None = None  # the group committing
        self._reset()

    def _reset(self) -> None:
        self.objects.close()
        self.members: dict[str, Member] = {}
        self.objects = Objects()
        self.events = 0
        self.solo = False
        self.opened_at: datetime | None = None
        self.exported_at: str | None = None  # fixed when the first page joins (_join)

    # -- filling -------------------------------------------------------------------------
    def admit(self, sync: CampaignSync, records: list[Record]) -> None:
        """Make room for a page of `sync` (its state is still the one before the page): commit
        first if the page cannot join this group."""
        solo = any(_foreign(r.raw, sync.campaign_id) for r in records)
        joined = sync.cp.pk in self.members
        if not self.members or (joined and not (solo and len(self.members) > 1)):
            self.solo = self.solo or solo
            return
        if (
            joined
            or self.solo
            or solo
            or len(self.members) >= MAX_MEMBERS
            or self._manifest_bytes() + len(sync.cp.pk) + 32 > MAX_MANIFEST_BYTES
        ):
            self.commit()
        self.solo = self.solo or solo

    def add(self, sync: CampaignSync, records: list[Record], hi: datetime) -> None:
        """A page's new records; `hi` is the upper bound of the window they were read from."""
        member = self.members.get(sync.cp.pk) or self._join(sync)
        floor = hi - self.run.lookback
        member.floor = recent_floor = floor if member.floor is None else min(member.floor, floor)
        member.unplaced_at = unplaced_at = (
            hi if member.unplaced_at is None else max(member.unplaced_at, hi)
        )
        # The hot loop of the exporter: one pass per record, names bound once per page.
        notify_types = self.run.settings.notify_event_types
        suffix, adds, unsaved = member.suffix, member.adds, sync.unsaved
        by_date: dict[str, list[bytes]] = {}  # the page's lines, written once per date
        exported = notified = 0
        for record in records:
            raw, instant = record.raw, record.instant
            if record.problem is None and instant is not None:
                if (
                    "workspace" in raw
                    or "campaign_id" in raw
                    or "exported_at" in raw
                    or "export_run" in raw
                    or not raw
                ):
                    line = dumps({**raw, **self._context(member, raw)})
                else:
                    line = encode(raw)[:-1] + suffix
                day = instant.date().isoformat()
                lines = by_date.get(day)
                if lines is None:
                    by_date[day] = [line]
                else:
                    lines.append(line)
                exported += 1
                if raw.get("type") in notify_types:
                    notifier = self.run.notifier
                    notifier.queue(notifier.entry(raw, self.workspace, sync.campaign_id))
                    notified += 1
                when = instant
            else:
                self._quarantine(member, record)
                when = instant or unplaced_at
            if when >= recent_floor:
                adds.append((record.key, when))
                unsaved.add(record.key)
        for day, lines in by_date.items():
            self.objects.write_lines(day, lines, sum(map(len, lines)))
        member.exported += exported
        member.notified += notified
        self.events += len(records)

    def settle(self) -> None:
        """After a page is in and the state moved past it: commit if the group is full."""
        self._settle_previous(wait=False)
        if self._full():
            self.commit()

    def _join(self, sync: CampaignSync) -> Member:
        if self.exported_at is None:  # the group forms: its records' export time
            self.exported_at = format_timestamp(self.run.clock.now())
        suffix = b"".join(
            b',"' + name.encode() + b'":' + encode(value)
            for name, value in self._context_values(sync.campaign_id).items()
        )
        suffix = suffix + b"}\n"
        member = Member(sync, suffix)
        self.members[sync.cp.pk] = member
        return member

    def _manifest_bytes(self) -> int:
        """About what the leader's manifest takes: every member's key and every object's
        (and its export time and run id)."""
        key = len(self._key("0000-00-00", self.run.run_id + "-00000"))
        members = sum(len(pk) + 32 for pk in self.members)
        return members + (len(self.objects) + 1) * (key + 4) + len(self.run.run_id) + 64

    def _quarantine(self, member: Member, record: Record) -> None:
        """The record as the API sent it under `raw` (so no field of it can collide), with
        the same context fields as an exported record."""
        quarantined = {"reason": record.problem or "unplaceable record", "raw": record.raw}
        quarantined.update(self._context_values(member.sync.campaign_id))
        self.objects.write(None, dumps(quarantined))
        member.quarantined += 1

    def _context_values(self, campaign_id: str) -> dict[str, str]:
        """The fields the exporter adds to each record of `campaign_id` (CONTEXT_FIELDS)."""
        assert self.exported_at is not None
        values = (self.workspace, campaign_id, self.exported_at, self.run.run_id)
        return dict(zip(CONTEXT_FIELDS, values, strict=True))

    def _context(self, member: Member, raw: dict[str, Any]) -> dict[str, str]:
        context = self._context_values(member.sync.campaign_id)
        return {k: v for k, v in context.items() if k not in raw}

    def _full(self) -> bool:
        """Hard limits commit now; past the soft ones, commit when no SQS batch is left half
        full (so a run sends ceil(n / 10) batches, the last one excepted)."""
        settings = self.run.settings
        soft = settings.batch_max_events
        if (
            self.events >= 2 * soft
            or self.run.notifier.held >= MAX_HELD_NOTIFICATIONS
            or self._manifest_bytes() >= MAX_MANIFEST_BYTES
            or len(self.members) >= MAX_MEMBERS
            or len(self.objects) >= MAX_OPEN_OBJECTS
        ):
            return True
        now = self.run.clock.now()
        self.opened_at = self.opened_at or now
        over = (
            self.events >= soft
            or len(self.members) >= SOFT_MEMBERS
            or (now - self.opened_at).total_seconds() >= settings.batch_max_seconds
        )
        return over and self.run.notifier.buffered == 0

    # -- committing ----------------------------------------------------------------------
    def commit(self) -> None:
        """Seal everything added so far and commit it (steps 1-4 of the module docstring) on
        the committer thread, once the group before it is committed; return at once. The
        next group fills meanwhile."""
        self._settle_previous(wait=True)
        if not self.members:
            return
        sealed = self._seal()
        self.objects = Objects()  # the sealed group took the open one
        self._reset()
        if self._committer is None:
            self._committer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="commit")
        self._inflight = (sealed, self._committer.submit(self._commit, sealed))

    def flush(self) -> None:
        """Commit everything added, and wait until it is committed (or has failed: its
        campaigns are then in `failed`)."""
        try:
            self.commit()
        finally:
            self._settle_previous(wait=True)
            if self._committer is not None:
                self._committer.shutdown(wait=True)
                self._committer = None
            self.run.notifier.close()

    def _seal(self) -> Sealed:
        """What the commit writes, fixed now. Each member's checkpoint in memory moves to the
        one after this commit, so a later group can build on it; if this commit fails, its
        campaigns stop for this run (_failed)."""
        run = self.run
        members = list(self.members.values())
        commits = []
        for member in members:
            sync = member.sync
            state = sync.state
            commit = MemberCommit(
                pk=sync.cp.pk,
                seq=sync.cp.seq,
                state=state.to_json(),
                recent=updated_recent(sync.cp.recent, member.adds, state, run.lookback),
                release=state.backfill is None and state.fresh is None,
                previous_ref=sync.cp.state_ref,
            )
            commits.append(commit)
            sync.cp.seq, sync.cp.recent, sync.cp.pending = commit.seq + 1, commit.recent, None
            # where the store puts this state if it is too large for the item (spill)
            sync.cp.state_ref = None if commit.inline else state_key(commit.pk, commit.seq + 1)
            sync.unsaved = set()
        assert self.exported_at is not None
        return Sealed(
            run.next_group_id(),
            members,
            commits,
            self.objects,
            self.solo,
            run.notifier.cut(),
            self.exported_at,
        )

    def _settle_previous(self, wait: bool) -> None:
        """Take the outcome of the commit on its way (if it is done, or `wait`)."""
        if self._inflight is None:
            return
        sealed, future = self._inflight
        if not wait and not future.done():
            return
        self._inflight = None
        try:
            future.result()
        except Exception as exc:  # noqa: BLE001 - every member's failure is recorded
            self._failed(sealed, exc)
        except BaseException as exc:  # the process is going down: nothing more is committed
            self._failed(sealed, exc)
            raise

    def _failed(self, sealed: Sealed, exc: BaseException) -> None:
        """A group that could not be committed stays pending (the next run rolls it forward
        or back). Its campaigns are ahead of DynamoDB in memory: they fail for this run. The
        open group goes too if it holds one of them (its records build on the failed ones):
        its other campaigns did nothing wrong, they stop for this run without failing (their
        committed state is intact; the next run reads those pages again)."""
        message = _message(exc)
        logger.error(
            "group commit failed",
            workspace=self.workspace,
            members=len(sealed.members),
            error=message,
        )
        failed = {m.sync.campaign_id for m in sealed.members}
        for member in sealed.members:
            self.failed.setdefault(member.sync.campaign_id, message)
            member.sync.stopped = True
        if any(m.sync.cp.pk in self.members for m in sealed.members):
            for member in self.members.values():
                member.sync.stopped = True
                if member.sync.campaign_id not in failed:
                    self.interrupted.add(member.sync.campaign_id)
            self.run.notifier.discard()
            self._reset()

    def _commit(self, sealed: Sealed) -> None:
        """On the committer thread: steps 1-4 for a sealed group."""
        run = self.run
        members, commits = sealed.members, sealed.commits
        targets = sealed.objects.targets()
        keys = [self._key(t, sealed.group_id) for t in targets]
        pending_group = None
        try:
            # Compression ends first (it frees the zlib state while DynamoDB works).
            bodies = sealed.objects.finish() if keys else {}
            if keys:
                pending_group = sealed.group_id
                # The manifest (keys, members) goes on the first member, the leader, only;
                # the others name it. The group is pending on all of them or on none.
                manifest = {
                    "id": sealed.group_id,
                    "keys": keys,
                    "solo": sealed.solo,
                    "members": [[c.pk, c.seq] for c in commits],
                    # the values of EXPORT_FIELDS in its records: recovery strips them
                    "exported_at": sealed.exported_at,
                    "export_run": run.run_id,
                }
                reference = {"id": sealed.group_id, "leader": commits[0].pk}
                for commit in commits:  # states too large for their items go to S3 first
                    run.store.spill(commit)
                run.store.record_pending_group(
                    run.run_id,
                    sealed.group_id,
                    [
                        (c, _pending(manifest if i == 0 else reference, c, m.floor, m.unplaced_at))
                        for i, (c, m) in enumerate(zip(commits, members, strict=True))
                    ],
                )
                # Pending now: its notifications may go (a repeat needs a crash from here on).
                sealed.sends.start()
                run.sink.put_many([(key, bodies[t]) for t, key in zip(targets, keys, strict=True)])
        finally:
            sealed.objects.close()
            sealed.sends.wait()  # also when the rest failed: nothing is left sending
        run.store.commit_group(run.run_id, pending_group, commits, run.clock.now().isoformat())
        for member, done in zip(members, commits, strict=True):
            sync = member.sync
            sync.released = done.release
            stats = sync.stats
            stats.commits += 1
            stats.exported += member.exported
            stats.quarantined += member.quarantined
            stats.notified += member.notified

    def _key(self, target: str | None, group_id: str) -> str:
        settings = self.run.settings
        if target is None:
            return sink_s3.quarantine_object_key(
                settings.quarantine_prefix, self.workspace, group_id
            )
        return sink_s3.event_object_key(settings.export_prefix, target, self.workspace, group_id)


def updated_recent(
    before: RecentIds,
    adds: list[tuple[bytes, datetime]],
    state: CampaignState,
    lookback: timedelta,
) -> RecentIds:
    """The recent-id set after a commit: a pure function, so recovery computes the same set."""
    recent = before.copy()
    for key, instant in adds:
        recent.add(key, instant)
    if state.watermark is not None:
        recent.prune(require_timestamp(state.watermark) - lookback)
    return recent


def _pending(
    info: dict[str, Any], commit: MemberCommit, floor: datetime | None, unplaced: datetime | None
) -> str:
    assert floor is not None
    assert unplaced is not None
    pending: dict[str, Any] = {
        "group": info,
        "seq": commit.seq + 1,
        "recent_floor": floor.isoformat(),
        "unplaced_at": unplaced.isoformat(),
    }
    if commit.state_ref is None:
        pending["state"] = commit.state
    else:
        pending["state_ref"] = commit.state_ref
    return json.dumps(pending, separators=(",", ":"))


def _foreign(raw: Any, campaign_id: str) -> bool:
    """An event that names another campaign in its own `campaign_id` field."""
    return isinstance(raw, dict) and "campaign_id" in raw and raw["campaign_id"] != campaign_id


def _message(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, ExporterError) else type(exc).__name__
