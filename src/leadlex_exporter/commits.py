"""Commits of one campaign: events, notifications and checkpoint made durable together.

Protocol (each step survives a crash at any point; see README "How correctness is kept"):
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

from datetime import datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger

from leadlex_exporter import sink_s3
from leadlex_exporter.batch import (
    Entry,
    EventEntry,
    QuarantineEntry,
    entries_from_source,
    identify,
    needs_staging,
    plan_objects,
    staging_body,
)
from leadlex_exporter.checkpoints import Checkpoint
from leadlex_exporter.context import CampaignStats, RunContext
from leadlex_exporter.state import CampaignState, RecentIds, Walk, id_hash
from leadlex_exporter.timestamps import require_timestamp

logger = Logger(child=True)

# 12 bytes each: 300 KB at most, so checkpoint items stay under DynamoDB's 400 KB. Past this
# many events inside one lookback window of one campaign, the oldest ids are forgotten (logged):
# a late event among them could then be exported twice, never lost.
MAX_RECENT_IDS = 25_000


class CommitLog:
    def __init__(
        self,
        run: RunContext,
        workspace: str,
        campaign_id: str,
        checkpoint: Checkpoint,
        stats: CampaignStats,
    ):
        self.run = run
        self.workspace = workspace
        self.campaign_id = campaign_id
        self.cp = checkpoint
        self.stats = stats

    def commit(
        self, entries: list[Entry], state: CampaignState, walk: Walk, *, release: bool = False
    ) -> None:
        """Make `entries` and `state` durable together, exactly once (steps 1-5 above).

        `release`: this is the campaign's last write of the run, so the lease goes with it."""
        new_seq = self.cp.seq + 1
        plans = plan_objects(entries, self.workspace, self.campaign_id)
        keys = [self._object_key(p.target, new_seq, self.run.run_id) for p in plans]
        pending: dict[str, Any] = {
            "seq": new_seq,
            "run_id": self.run.run_id,
            "keys": keys,
            "state": state.to_json(),
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
        self._complete(pending, entries, state, rewrite_source=True, release=release)

    def recover(self) -> CampaignState | None:
        """Finish (or undo) the commit a crashed invocation left pending; the state after it."""
        pending = self.cp.pending
        if not pending:
            return None
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
            return None
        entries = entries_from_source(body, pending["kind"])
        state = CampaignState.from_json(pending["state"])
        self._complete(pending, entries, state, rewrite_source=False)
        self.stats.recovered += 1
        logger.info(
            "pending commit rolled forward",
            campaign_id=self.campaign_id,
            workspace=self.workspace,
            seq=pending["seq"],
            events=len(entries),
        )
        return state

    def _complete(
        self,
        pending: dict[str, Any],
        entries: list[Entry],
        state: CampaignState,
        *,
        rewrite_source: bool,
        release: bool = False,
    ) -> None:
        plans = plan_objects(entries, self.workspace, self.campaign_id)
        keys = [self._object_key(p.target, pending["seq"], pending["run_id"]) for p in plans]
        if keys != pending["keys"]:
            raise ValueError("a pending commit does not rebuild to the keys it recorded")
        self.run.sink.put_many(
            [
                (key, plan.body)
                for plan, key in zip(plans, keys, strict=True)
                if rewrite_source or key != pending.get("source")
            ]
        )
        notify = [
            e.event
            for e in entries
            if isinstance(e, EventEntry)
            and e.event.get("type") in self.run.settings.notify_event_types
        ]
        self.stats.notified += self.run.notifier.send(notify, self.workspace, self.campaign_id)
        recent = apply_recent(self.cp.recent, entries, pending, state.watermark, self.run.lookback)
        self.run.store.commit(
            self.cp.pk,
            self.run.run_id,
            self.cp.seq,
            pending["seq"],
            state,
            recent,
            self.run.clock.now().isoformat(),
            release=release,
        )
        self.cp.seq, self.cp.recent, self.cp.pending = pending["seq"], recent, None
        self.stats.commits += 1
        self.stats.exported += sum(isinstance(e, EventEntry) for e in entries)
        self.stats.quarantined += sum(isinstance(e, QuarantineEntry) for e in entries)
        if pending.get("kind") == "staging":
            self.run.sink.delete(pending["source"])

    def _object_key(self, target: str | None, seq: int, run_id: str) -> str:
        settings = self.run.settings
        if target is None:
            return sink_s3.quarantine_object_key(
                settings.quarantine_prefix, self.workspace, self.campaign_id, seq, run_id
            )
        return sink_s3.event_object_key(
            settings.export_prefix, target, self.workspace, self.campaign_id, seq, run_id
        )


def apply_recent(
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
            key, placed, _ = identify(entry.raw)
            instant = placed or unplaced_at
        if instant >= floor:
            recent.add(key, instant)
    if watermark is not None:
        recent.prune(require_timestamp(watermark) - lookback)
    if recent.limit(MAX_RECENT_IDS):
        logger.warning("recent ids cut to fit the checkpoint item", kept=MAX_RECENT_IDS)
    return recent
