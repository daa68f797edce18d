"""The use case for one campaign: checkpoint -> fetch -> write S3 -> notify SQS -> commit.

Commit protocol (each step survives a crash at any point; see README "How correctness is kept"):
  1. staging object (outside the export prefix), only when a commit writes several objects
  2. DynamoDB: `pending` = the commit's source object, object keys and state after it
  3. S3: the event objects, at keys fixed by (sequence number, run id)
  4. SQS: notifications
  5. DynamoDB: the new state, sequence number + 1, `pending` removed
A run that finds `pending` rolls it forward from the source object (rewriting the same keys
with the same bytes and sending the notifications again), or back if the lone object of the
commit never landed, before fetching anything new.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger

from leadlex_exporter import sink_s3
from leadlex_exporter.batch import (
    Entry,
    EventEntry,
    QuarantineEntry,
    entries_from_source,
    needs_staging,
    plan_objects,
    staging_body,
)
from leadlex_exporter.checkpoints import Checkpoint, CheckpointStore
from leadlex_exporter.clock import Clock, Deadline
from leadlex_exporter.leadlex import PER_PAGE, LeadLexClient
from leadlex_exporter.notify_sqs import SqsNotifier
from leadlex_exporter.quota import Purpose
from leadlex_exporter.settings import Settings
from leadlex_exporter.state import RecentIds, Walk, content_hash, id_hash
from leadlex_exporter.timestamps import format_timestamp, parse_timestamp

logger = Logger(child=True)

# 12 bytes each: 300 KB at most, so checkpoint items stay under DynamoDB's 400 KB. Past this
# many events inside one lookback window of one campaign, the oldest ids are forgotten (logged):
# a late event among them could then be exported twice, never lost.
MAX_RECENT_IDS = 25_000


@dataclass
class RunContext:
    settings: Settings
    run_id: str
    window_end: datetime  # to_date of every window this run opens (run start, whole second)
    deadline: Deadline
    clock: Clock
    store: CheckpointStore
    sink: sink_s3.S3Sink
    notifier: SqsNotifier

    @property
    def lookback(self) -> timedelta:
        return timedelta(minutes=self.settings.lookback_minutes)


@dataclass
class CampaignStats:
    exported: int = 0
    notified: int = 0
    quarantined: int = 0
    duplicates_skipped: int = 0
    pages: int = 0
    commits: int = 0
    recovered: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class CampaignSync:
    def __init__(
        self,
        run: RunContext,
        workspace: str,
        campaign_id: str,
        client: LeadLexClient,
        checkpoint: Checkpoint,
    ):
        self.run = run
        self.workspace = workspace
        self.campaign_id = campaign_id
        self.client = client
        self.cp = checkpoint
        self.state = checkpoint.state
        self.batch: list[Entry] = []
        self.dirty = False  # pages absorbed since the last commit
        self.stats = CampaignStats()

    # -- the two phases of a run: fresh events first, history with what the quota leaves ----
    def sync(self, purpose: Purpose) -> None:
        self._start_if_new()
        if purpose is Purpose.BACKFILL:
            if self.state.backfill:
                self._run_walk(self.state.backfill, purpose)
            return
        if self.state.backfill and not self._fresh_allowed():
            # The newest page(s) of a first sync are fresh events: fetch them with fresh
            # budget, down to where fresh windows can take over; the history waits its turn.
            self._run_walk(self.state.backfill, purpose, until=self._fresh_allowed)
        if self.state.fresh is None and self._fresh_allowed():
            watermark = _instant(self.state.watermark)
            if watermark < self.run.window_end:
                lo = format_timestamp(watermark - self.run.lookback)
                self.state.fresh = Walk("fresh", lo, format_timestamp(self.run.window_end))
        if self.state.fresh:
            self._run_walk(self.state.fresh, purpose)

    @property
    def needs_backfill(self) -> bool:
        return self.state.watermark is None or self.state.backfill is not None

    def _start_if_new(self) -> None:
        if self.state.watermark is not None:
            return
        days = self.run.settings.backfill_days
        lo = format_timestamp(self.run.window_end - timedelta(days=days)) if days else None
        end = format_timestamp(self.run.window_end)
        self.state.backfill = Walk("backfill", lo, end)
        self.state.watermark = end

    def _fresh_allowed(self) -> bool:
        """Fresh windows may start once the backfill has walked below their lower bound."""
        backfill = self.state.backfill
        if backfill is None:
            return True
        frontier = backfill.frontier_instant
        return (
            frontier is not None and frontier < _instant(self.state.watermark) - self.run.lookback
        )

    # -- paging one pinned window ------------------------------------------------------------
    def _run_walk(
        self, walk: Walk, purpose: Purpose, until: Callable[[], bool] | None = None
    ) -> None:
        try:
            while until is None or not until():
                page = self.client.events_page(
                    self.campaign_id, walk.next_page, walk.lo, walk.hi, purpose
                )
                self.stats.pages += 1
                self._absorb(walk, page.events)
                walk.next_page += 1
                self.dirty = True
                done = (
                    len(page.events) < PER_PAGE
                    if page.total is None
                    else (walk.next_page - 1) * PER_PAGE >= page.total or not page.events
                )
                if done:
                    self._finish(walk)
                if done or len(self.batch) >= self.run.settings.batch_max_events:
                    self.flush(walk)
                if done:
                    return
            if self.dirty:
                self.flush(walk)
        except Exception:
            # Keep what whole pages gave us; the error itself is the caller's to judge.
            if self.dirty:
                self._flush_quietly(walk)
            raise

    def _absorb(self, walk: Walk, events: list[Any]) -> None:
        frontier = walk.frontier_instant
        known_at_frontier = set(walk.frontier_ids)
        page_seen: set[bytes] = set()
        placed: list[tuple[datetime, bytes]] = []
        for raw in events:
            key, instant, problem = _identify(raw)
            if key in page_seen:
                self.stats.duplicates_skipped += 1
                continue
            page_seen.add(key)
            if instant is not None:
                placed.append((instant, key))
                seen = frontier is not None and (
                    instant > frontier or (instant == frontier and key in known_at_frontier)
                )
            else:
                seen = key in walk.unplaced_ids
                if not seen:
                    walk.unplaced_ids.append(key)
            if seen or key in self.cp.recent:
                self.stats.duplicates_skipped += 1
                continue
            if problem is None and instant is not None:
                self.batch.append(EventEntry(raw, instant))
            else:
                self.batch.append(QuarantineEntry(raw, problem or "unplaceable record", instant))
        if placed:
            oldest = min(instant for instant, _ in placed)
            at_oldest = [k for instant, k in placed if instant == oldest]
            if frontier is None or oldest < frontier:
                walk.frontier, walk.frontier_ids = oldest.isoformat(), at_oldest
            elif oldest == frontier:
                walk.frontier_ids += [k for k in at_oldest if k not in known_at_frontier]

    def _finish(self, walk: Walk) -> None:
        if walk.kind == "backfill":
            self.state.backfill = None
        else:
            self.state.watermark = walk.hi
            self.state.fresh = None

    # -- committing ----------------------------------------------------------------------------
    def flush(self, walk: Walk) -> None:
        entries, self.batch, self.dirty = self.batch, [], False
        new_seq = self.cp.seq + 1
        plans = plan_objects(entries, self.workspace, self.campaign_id)
        keys = [self._object_key(p.target, new_seq, self.run.run_id) for p in plans]
        pending: dict[str, Any] = {
            "seq": new_seq,
            "run_id": self.run.run_id,
            "keys": keys,
            "state": self.state.to_json(),
            "recent_floor": (walk.hi_instant - self.run.lookback).isoformat(),
            "unplaced_at": walk.hi_instant.isoformat(),
        }
        if plans:
            if needs_staging(plans, entries):
                source = sink_s3.staging_object_key(
                    self.run.settings.staging_prefix,
                    self.workspace,
                    self.campaign_id,
                    new_seq,
                    self.run.run_id,
                )
                self.run.sink.put(source, staging_body(entries))
                pending.update(source=source, kind="staging")
            else:
                pending.update(source=keys[0], kind="events" if plans[0].target else "quarantine")
            self.run.store.record_pending(self.cp.pk, self.run.run_id, self.cp.seq, pending)
        self._complete(pending, entries, rewrite_source=True)

    def recover(self) -> None:
        """Finish (or undo) the commit a crashed invocation left pending."""
        pending = self.cp.pending
        if not pending:
            return
        body = self.run.sink.get(pending["source"])
        if body is None:
            # The commit's only object never landed (or its staging copy is gone): undo it.
            for key in pending["keys"] if pending["kind"] == "staging" else []:
                self.run.sink.delete(key)
            self.run.store.clear_pending(self.cp.pk, self.run.run_id, self.cp.seq)
            logger.warning(
                "pending commit rolled back",
                campaign_id=self.campaign_id,
                workspace=self.workspace,
                seq=pending["seq"],
            )
            return
        entries = entries_from_source(body, pending["kind"])
        self.state = type(self.state).from_json(pending["state"])
        self._complete(pending, entries, rewrite_source=False)
        self.stats.recovered += 1
        logger.info(
            "pending commit rolled forward",
            campaign_id=self.campaign_id,
            workspace=self.workspace,
            seq=pending["seq"],
            events=len(entries),
        )

    def _complete(
        self, pending: dict[str, Any], entries: list[Entry], *, rewrite_source: bool
    ) -> None:
        plans = plan_objects(entries, self.workspace, self.campaign_id)
        keys = [self._object_key(p.target, pending["seq"], pending["run_id"]) for p in plans]
        if keys != pending["keys"]:
            raise ValueError("a pending commit does not rebuild to the keys it recorded")
        for plan, key in zip(plans, keys, strict=True):
            if rewrite_source or key != pending.get("source"):
                self.run.sink.put(key, plan.body())
        notify = [
            e.event
            for e in entries
            if isinstance(e, EventEntry)
            and e.event.get("type") in self.run.settings.notify_event_types
        ]
        self.stats.notified += self.run.notifier.send(notify, self.workspace, self.campaign_id)
        recent = _apply_recent(
            self.cp.recent, entries, pending, self.state.watermark, self.run.lookback
        )
        self.run.store.commit(
            self.cp.pk,
            self.run.run_id,
            self.cp.seq,
            pending["seq"],
            self.state,
            recent,
            self.run.clock.now().isoformat(),
        )
        self.cp.seq, self.cp.recent, self.cp.pending = pending["seq"], recent, None
        self.stats.commits += 1
        self.stats.exported += sum(isinstance(e, EventEntry) for e in entries)
        self.stats.quarantined += sum(isinstance(e, QuarantineEntry) for e in entries)
        if pending.get("kind") == "staging":
            self.run.sink.delete(pending["source"])

    def _flush_quietly(self, walk: Walk) -> None:
        try:
            self.flush(walk)
        except Exception:  # noqa: BLE001 - the original error is re-raised by the caller
            logger.exception(
                "could not keep progress", campaign_id=self.campaign_id, workspace=self.workspace
            )

    def _object_key(self, target: str | None, seq: int, run_id: str) -> str:
        settings = self.run.settings
        if target is None:
            return sink_s3.quarantine_object_key(
                settings.quarantine_prefix, self.workspace, self.campaign_id, seq, run_id
            )
        return sink_s3.event_object_key(
            settings.export_prefix, target, self.workspace, self.campaign_id, seq, run_id
        )


def _identify(raw: Any) -> tuple[bytes, datetime | None, str | None]:
    """(dedupe key, instant, problem) of one record; problem is None for a placeable event."""
    if not isinstance(raw, dict):
        return content_hash(raw), None, "record is not a JSON object"
    instant = parse_timestamp(raw.get("timestamp"))
    event_id = raw.get("id")
    has_id = (
        isinstance(event_id, str | int)
        and not isinstance(event_id, bool)
        and (str(event_id).strip() != "")
    )
    key = id_hash(event_id) if has_id else content_hash(raw)
    if not has_id:
        return key, instant, "record has no id"
    if instant is None:
        return key, None, "record has no readable timestamp"
    return key, instant, None


def _apply_recent(
    before: RecentIds,
    entries: list[Entry],
    pending: dict[str, Any],
    watermark: str | None,
    lookback: timedelta,
) -> RecentIds:
    """The recent-id set after a commit: a pure function, so recovery computes the same set."""
    recent = before.copy()
    floor = datetime.fromisoformat(pending["recent_floor"])
    unplaced_at = datetime.fromisoformat(pending["unplaced_at"])
    for entry in entries:
        if isinstance(entry, EventEntry):
            key, instant = id_hash(entry.event.get("id")), entry.instant
        else:
            key, placed, _ = _identify(entry.raw)
            instant = placed or unplaced_at
        if instant >= floor:
            recent.add(key, instant)
    if watermark is not None:
        recent.prune(_instant(watermark) - lookback)
    if recent.limit(MAX_RECENT_IDS):
        logger.warning("recent ids cut to fit the checkpoint item", kept=MAX_RECENT_IDS)
    return recent


def _instant(text: str | None) -> datetime:
    instant = parse_timestamp(text)
    if instant is None:
        raise ValueError(f"not a timestamp: {text!r}")
    return instant
