"""Commits of one workspace: the events of many campaigns made durable together, exactly once.

A run adds every page it reads to the workspace's open *group*. A group is committed when it is
large enough (objects sized for Athena, SQS batches full) and when the workspace is done:
  1. DynamoDB, one transaction: every member campaign gets `pending` (the group's object keys
     and members, and the campaign's state after the group), fenced by its lease and seq
  2. S3: one object per event date (and one for quarantine), at keys fixed by (run, group)
  3. SQS: the rest of the group's notifications (full batches went out as they filled)
  4. DynamoDB, one transaction: every member's new state, seq + 1, `pending` removed
A crash leaves the group pending on all its members at once; recovery.py finishes it.

Records are attributed to their campaign by the `campaign_id` field the exporter adds. An event
whose own `campaign_id` field names another campaign makes its group a single-member one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from leadlex_exporter import sink_s3
from leadlex_exporter.checkpoints import MemberCommit
from leadlex_exporter.context import RunContext
from leadlex_exporter.errors import ExporterError
from leadlex_exporter.objects import Objects
from leadlex_exporter.state import CampaignState, RecentIds
from leadlex_exporter.timestamps import require_timestamp

if TYPE_CHECKING:
    from leadlex_exporter.sync import CampaignSync

logger = Logger(child=True)

# 12 bytes each: 300 KB at most, so checkpoint items stay under DynamoDB's 400 KB. Past this
# many events inside one lookback window of one campaign, the oldest ids are forgotten (logged):
# a late event among them could then be exported twice, never lost.
MAX_RECENT_IDS = 25_000
MAX_MEMBERS = 100  # items in one DynamoDB transaction
SOFT_MEMBERS = 90
MAX_TRANSACTION_BYTES = 3_000_000  # of DynamoDB's 4 MB per transaction
MAX_OPEN_OBJECTS = 64  # event dates (each a gzip stream of about 300 KB) in one group

_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str)


def dumps(value: Any) -> bytes:
    return _ENCODER.encode(value).encode() + b"\n"


@dataclass
class Record:
    """One new record of a page: an event (`problem` None) or one to keep aside."""

    raw: Any
    key: bytes
    instant: datetime | None
    problem: str | None


@dataclass
class Member:
    sync: CampaignSync
    suffix: bytes  # `,"workspace":..,"campaign_id":..}` closing each record of this campaign
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
        self.objects = Objects()
        self._reset()

    def _reset(self) -> None:
        self.objects.close()
        self.members: dict[str, Member] = {}
        self.objects = Objects()
        self.events = 0
        self.recent_bytes = 0
        self.solo = False
        self.opened_at: datetime | None = None

    # -- filling -------------------------------------------------------------------------
    def admit(self, sync: CampaignSync, records: list[Record]) -> None:
        """Make room for a page of `sync` (its state is still the one before the page): commit
        first if the page cannot join this group."""
        solo = any(_foreign(r.raw, sync.campaign_id) for r in records)
        joined = sync.cp.pk in self.members
        if not self.members or (joined and not (solo and len(self.members) > 1)):
            self.solo = self.solo or solo
            return
        if joined or self.solo or solo or len(self.members) >= MAX_MEMBERS:
            self.commit()
        self.solo = self.solo or solo

    def add(self, sync: CampaignSync, records: list[Record], hi: datetime) -> None:
        """A page's new records; `hi` is the upper bound of the window they were read from."""
        member = self.members.get(sync.cp.pk) or self._join(sync)
        floor = hi - self.run.lookback
        member.floor = floor if member.floor is None else min(member.floor, floor)
        member.unplaced_at = hi if member.unplaced_at is None else max(member.unplaced_at, hi)
        notify_types = self.run.settings.notify_event_types
        for record in records:
            self._add(member, record, notify_types)

    def settle(self) -> None:
        """After a page is in and the state moved past it: commit if the group is full."""
        if self._full():
            self.commit()

    def _join(self, sync: CampaignSync) -> Member:
        suffix = (
            b',"workspace":'
            + dumps(self.workspace)[:-1]
            + b',"campaign_id":'
            + dumps(sync.campaign_id)[:-1]
            + b"}\n"
        )
        member = Member(sync, suffix)
        self.members[sync.cp.pk] = member
        self.recent_bytes += 12 * len(sync.cp.recent) + 4_000
        return member

    def _add(self, member: Member, record: Record, notify_types: frozenset[str]) -> None:
        raw, instant = record.raw, record.instant
        if record.problem is None and instant is not None:
            if "workspace" in raw or "campaign_id" in raw or not raw:
                line = dumps({**raw, **self._context(member, raw)})
            else:
                line = _ENCODER.encode(raw)[:-1].encode() + member.suffix
            self.objects.write(instant.date().isoformat(), line)
            member.exported += 1
            if raw.get("type") in notify_types:
                self.run.notifier.queue(
                    self.run.notifier.entry(raw, self.workspace, member.sync.campaign_id)
                )
                member.notified += 1
        else:
            quarantined = {"reason": record.problem or "unplaceable record", "raw": raw}
            quarantined.update(workspace=self.workspace, campaign_id=member.sync.campaign_id)
            self.objects.write(None, dumps(quarantined))
            member.quarantined += 1
        self.events += 1
        when = instant or member.unplaced_at
        assert member.floor is not None
        assert when is not None
        if when >= member.floor:
            member.adds.append((record.key, when))
            member.sync.unsaved.add(record.key)
            self.recent_bytes += 12

    def _context(self, member: Member, raw: dict[str, Any]) -> dict[str, str]:
        context = {"workspace": self.workspace, "campaign_id": member.sync.campaign_id}
        return {k: v for k, v in context.items() if k not in raw}

    def _full(self) -> bool:
        """Hard limits commit now; past the soft ones, commit when no SQS batch is left half
        full (so a run sends ceil(n / 10) batches, the last one excepted)."""
        settings = self.run.settings
        soft = settings.batch_max_events
        if (
            self.events >= 2 * soft
            or self.recent_bytes >= MAX_TRANSACTION_BYTES
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
        """Steps 1-4 of the module docstring for everything added so far."""
        if not self.members:
            return
        members = list(self.members.values())
        try:
            self._commit(members)
        except Exception as exc:
            # Whatever was written stays pending; the next run rolls it forward or back.
            # These campaigns' states in memory are ahead of DynamoDB: they stop for this run.
            self.run.notifier.discard()
            message = _message(exc)
            for member in members:
                self.failed[member.sync.campaign_id] = message
                member.sync.stopped = True
            raise
        finally:
            self._reset()

    def _commit(self, members: list[Member]) -> None:
        run = self.run
        group_id = run.next_group_id()
        targets = self.objects.targets()
        keys = [self._key(t, group_id) for t in targets]
        commits = []
        for member in members:
            sync = member.sync
            state = sync.state
            caught_up = state.backfill is None and state.fresh is None
            commits.append(
                MemberCommit(
                    pk=sync.cp.pk,
                    seq=sync.cp.seq,
                    state=state.to_json(),
                    recent=updated_recent(sync.cp.recent, member.adds, state, run.lookback),
                    release=caught_up,
                )
            )
        pending_group = None
        if keys:
            pending_group = group_id
            info = {
                "id": group_id,
                "keys": keys,
                "solo": self.solo,
                "members": [[c.pk, c.seq] for c in commits],
            }
            run.store.record_pending_group(
                run.run_id,
                group_id,
                [
                    (c, _pending(info, c, m.floor, m.unplaced_at))
                    for c, m in zip(commits, members, strict=True)
                ],
            )
            bodies = self.objects.finish()
            run.sink.put_many([(key, bodies[t]) for t, key in zip(targets, keys, strict=True)])
        run.notifier.drain()
        run.store.commit_group(run.run_id, pending_group, commits, run.clock.now().isoformat())
        for member, done in zip(members, commits, strict=True):
            sync = member.sync
            sync.cp.seq, sync.cp.recent, sync.cp.pending = done.seq + 1, done.recent, None
            sync.unsaved = set()
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
    if recent.limit(MAX_RECENT_IDS):
        logger.warning("recent ids cut to fit the checkpoint item", kept=MAX_RECENT_IDS)
    return recent


def _pending(
    info: dict[str, Any], commit: MemberCommit, floor: datetime | None, unplaced: datetime | None
) -> str:
    assert floor is not None
    assert unplaced is not None
    pending = {
        "group": info,
        "seq": commit.seq + 1,
        "state": commit.state,
        "recent_floor": floor.isoformat(),
        "unplaced_at": unplaced.isoformat(),
    }
    return json.dumps(pending, separators=(",", ":"))


def _foreign(raw: Any, campaign_id: str) -> bool:
    """An event that names another campaign in its own `campaign_id` field."""
    return isinstance(raw, dict) and "campaign_id" in raw and raw["campaign_id"] != campaign_id


def _message(exc: Exception) -> str:
    return str(exc) if isinstance(exc, ExporterError) else type(exc).__name__
