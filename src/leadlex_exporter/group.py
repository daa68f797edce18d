"""Commits of one workspace: the events of many campaigns made durable together, exactly once.

A run adds every page it reads to the workspace's open *group*. A group is committed when it is
large enough (objects sized for Athena, SQS batches full) and when the workspace is done, by
the steps of protocol.py. They run on a committer thread while the next group fills; a group's
commit starts only once the one before it is done, since it builds on the state that one
commits. So the group keeps, for each campaign, where its next commit starts (Position), and
a campaign learns what became of its commits from the results the group hands it (MemberResult:
committed, or stopped for this run).

Records are attributed to their campaign by the `campaign_id` field the exporter adds. An event
whose own `campaign_id` field names another campaign makes its group a single-member one.

Every record also carries `exported_at` and `export_run` (protocol.EXPORT_FIELDS): the time
the group was formed (its first page joined; UTC, whole seconds) and the run's id, the same for
every record of the group's objects. Lines are compressed as pages arrive, so the time is fixed
when the group opens, not when it is written; the manifest keeps both, so recovery can tell them
from an event's own fields of those names (an event's own field always wins, as for `workspace`).
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from aws_lambda_powertools import Logger

from leadlex_exporter import protocol, sink_s3
from leadlex_exporter.checkpoints import Checkpoint, MemberCommit, state_key
from leadlex_exporter.context import RunContext
from leadlex_exporter.errors import ExporterError
from leadlex_exporter.jsoncodec import encode
from leadlex_exporter.objects import Objects
from leadlex_exporter.protocol import CONTEXT_FIELDS, GroupCommit, updated_recent
from leadlex_exporter.state import CampaignState, RecentIds
from leadlex_exporter.timestamps import format_timestamp

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
class MemberResult:
    """What became of one member's commit, for its campaign to apply (Campaign.apply)."""

    pk: str
    committed: bool  # False: its campaign stops for this run (its group failed, or built on one)
    released: bool = False  # its lease went with the commit
    exported: int = 0
    quarantined: int = 0
    notified: int = 0


class Campaign(Protocol):
    """What a group needs of a member campaign (sync.CampaignSync is one)."""

    @property
    def campaign_id(self) -> str: ...
    @property
    def cp(self) -> Checkpoint: ...  # as leased: where its first commit of the run starts
    @property
    def state(self) -> CampaignState: ...  # its state now, after the pages added so far
    def apply(self, result: MemberResult) -> None: ...


@dataclass
class Position:
    """Where a campaign's next commit starts: the last one sealed (or its checkpoint)."""

    seq: int
    recent: RecentIds
    state_ref: str | None
    unsaved: set[bytes] = field(default_factory=set)  # recent ids of the open group


@dataclass
class Member:
    campaign: Campaign
    suffix: bytes  # `,"workspace":..,"campaign_id":..,"exported_at":..,"export_run":..}`
    floor: datetime | None = None  # ids at or after this instant join the recent set
    unplaced_at: datetime | None = None
    adds: list[tuple[bytes, datetime]] = field(default_factory=list)
    exported: int = 0
    quarantined: int = 0
    notified: int = 0


class CommitGroup:
    def __init__(self, run: RunContext, workspace: str):
        self.run = run
        self.workspace = workspace
        self.solo = False
        self.failed: dict[str, str] = {}  # campaigns whose group could not be committed
        self.interrupted: set[str] = set()  # stopped with the open group, not failed
        self.objects = Objects()
        self._committer: ThreadPoolExecutor | None = None
        self._positions: dict[str, Position] = {}  # by pk: where each campaign's next commit starts
        # the group committing: its members and what it writes
        self._inflight: tuple[list[Member], GroupCommit, Future[list[MemberResult]]] | None = None
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
    def admit(self, campaign: Campaign, records: list[Record]) -> None:
        """Make room for a page of `campaign` (its state is still the one before the page):
        commit first if the page cannot join this group."""
        solo = any(_foreign(r.raw, campaign.campaign_id) for r in records)
        joined = campaign.cp.pk in self.members
        if not self.members or (joined and not (solo and len(self.members) > 1)):
            self.solo = self.solo or solo
            return
        if (
            joined
            or self.solo
            or solo
            or len(self.members) >= MAX_MEMBERS
            or self._manifest_bytes() + len(campaign.cp.pk) + 32 > MAX_MANIFEST_BYTES
        ):
            self.commit()
        self.solo = self.solo or solo

    def add(self, campaign: Campaign, records: list[Record], hi: datetime) -> None:
        """A page's new records; `hi` is the upper bound of the window they were read from."""
        member = self.members.get(campaign.cp.pk) or self._join(campaign)
        floor = hi - self.run.lookback
        member.floor = recent_floor = floor if member.floor is None else min(member.floor, floor)
        member.unplaced_at = unplaced_at = (
            hi if member.unplaced_at is None else max(member.unplaced_at, hi)
        )
        # The hot loop of the exporter: one pass per record, names bound once per page.
        notify_types = self.run.settings.notify_event_types
        suffix, adds = member.suffix, member.adds
        unsaved = self._position(campaign).unsaved
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
                    notifier.queue(notifier.entry(raw, self.workspace, campaign.campaign_id))
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

    def known_ids(self, campaign: Campaign) -> tuple[dict[bytes, int], set[bytes]]:
        """The campaign's recent ids: those its last commit keeps, and those of the open group."""
        position = self._position(campaign)
        return position.recent.entries, position.unsaved

    def _position(self, campaign: Campaign) -> Position:
        position = self._positions.get(campaign.cp.pk)
        if position is None:
            cp = campaign.cp
            position = self._positions[cp.pk] = Position(cp.seq, cp.recent, cp.state_ref)
        return position

    def _join(self, campaign: Campaign) -> Member:
        if self.exported_at is None:  # the group forms: its records' export time
            self.exported_at = format_timestamp(self.run.clock.now())
        suffix = b"".join(
            b',"' + name.encode() + b'":' + encode(value)
            for name, value in self._context_values(campaign.campaign_id).items()
        )
        suffix = suffix + b"}\n"
        member = Member(campaign, suffix)
        self.members[campaign.cp.pk] = member
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
        quarantined.update(self._context_values(member.campaign.campaign_id))
        self.objects.write(None, dumps(quarantined))
        member.quarantined += 1

    def _context_values(self, campaign_id: str) -> dict[str, str]:
        """The fields the exporter adds to each record of `campaign_id` (CONTEXT_FIELDS)."""
        assert self.exported_at is not None
        values = (self.workspace, campaign_id, self.exported_at, self.run.run_id)
        return dict(zip(CONTEXT_FIELDS, values, strict=True))

    def _context(self, member: Member, raw: dict[str, Any]) -> dict[str, str]:
        context = self._context_values(member.campaign.campaign_id)
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
        members = list(self.members.values())
        sealed = self._seal(members)
        self.objects = Objects()  # the sealed group took the open one
        self._reset()
        if self._committer is None:
            self._committer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="commit")
        self._inflight = (members, sealed, self._committer.submit(self._commit, members, sealed))

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

    def _seal(self, members: list[Member]) -> GroupCommit:
        """What the commit writes, fixed now. Each member's position moves to the one after
        this commit, so a later group can build on it; if this commit fails, its campaigns
        stop for this run (_failed)."""
        run = self.run
        commits, bounds = [], []
        for member in members:
            pk, state = member.campaign.cp.pk, member.campaign.state
            position = self._position(member.campaign)
            commit = MemberCommit(
                pk=pk,
                seq=position.seq,
                state=state.to_json(),
                recent=updated_recent(position.recent, member.adds, state, run.lookback),
                release=state.backfill is None and state.fresh is None,
                previous_ref=position.state_ref,
            )
            commits.append(commit)
            assert member.floor is not None
            assert member.unplaced_at is not None
            bounds.append((member.floor, member.unplaced_at))
            position.seq, position.recent = commit.seq + 1, commit.recent
            # where the store puts this state if it is too large for the item (spill)
            position.state_ref = None if commit.inline else state_key(pk, commit.seq + 1)
            position.unsaved = set()
        assert self.exported_at is not None
        group_id = run.next_group_id()
        return GroupCommit(
            group_id,
            commits,
            bounds,
            self.objects,
            {t: self._key(t, group_id) for t in self.objects.targets()},
            self.solo,
            run.notifier.cut(),
            self.exported_at,
        )

    def _settle_previous(self, wait: bool) -> None:
        """Hand the outcome of the commit on its way (if it is done, or `wait`) to its
        campaigns."""
        if self._inflight is None:
            return
        members, sealed, future = self._inflight
        if not wait and not future.done():
            return
        self._inflight = None
        try:
            results = future.result()
        except Exception as exc:  # noqa: BLE001 - every member's failure is recorded
            self._failed(members, exc)
        except BaseException as exc:  # the process is going down: nothing more is committed
            self._failed(members, exc)
            raise
        else:
            for member, result in zip(members, results, strict=True):
                member.campaign.apply(result)

    def _failed(self, sealed: list[Member], exc: BaseException) -> None:
        """A group that could not be committed stays pending (the next run rolls it forward
        or back). Its campaigns are ahead of DynamoDB in memory: they fail for this run. The
        open group goes too if it holds one of them (its records build on the failed ones):
        its other campaigns did nothing wrong, they stop for this run without failing (their
        committed state is intact; the next run reads those pages again)."""
        message = _message(exc)
        logger.error(
            "group commit failed",
            workspace=self.workspace,
            members=len(sealed),
            error=message,
        )
        failed = {m.campaign.campaign_id for m in sealed}
        for member in sealed:
            self.failed.setdefault(member.campaign.campaign_id, message)
            member.campaign.apply(MemberResult(member.campaign.cp.pk, committed=False))
        if any(m.campaign.cp.pk in self.members for m in sealed):
            for member in self.members.values():
                member.campaign.apply(MemberResult(member.campaign.cp.pk, committed=False))
                if member.campaign.campaign_id not in failed:
                    self.interrupted.add(member.campaign.campaign_id)
            self.run.notifier.discard()
            self._reset()

    def _commit(self, members: list[Member], sealed: GroupCommit) -> list[MemberResult]:
        """On the committer thread: the protocol's steps for a sealed group."""
        protocol.commit(self.run, sealed)
        return [
            MemberResult(
                done.pk,
                committed=True,
                released=done.release,
                exported=member.exported,
                quarantined=member.quarantined,
                notified=member.notified,
            )
            for member, done in zip(members, sealed.commits, strict=True)
        ]

    def _key(self, target: str | None, group_id: str) -> str:
        settings = self.run.settings
        if target is None:
            return sink_s3.quarantine_object_key(
                settings.quarantine_prefix, self.workspace, group_id
            )
        return sink_s3.event_object_key(settings.export_prefix, target, self.workspace, group_id)


def _foreign(raw: Any, campaign_id: str) -> bool:
    """An event that names another campaign in its own `campaign_id` field."""
    return isinstance(raw, dict) and "campaign_id" in raw and raw["campaign_id"] != campaign_id


def _message(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, ExporterError) else type(exc).__name__
