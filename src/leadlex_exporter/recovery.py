"""Settling a commit group that a crashed invocation left pending (protocol.py): its objects
are read back for its notifications and recent ids, and it is rolled forward or back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger

from leadlex_exporter import protocol
from leadlex_exporter.checkpoints import Checkpoint, PendingMember, campaign_pk
from leadlex_exporter.context import CampaignStats, RunContext
from leadlex_exporter.errors import LeaseLostError
from leadlex_exporter.identity import identify
from leadlex_exporter.objects import read_records
from leadlex_exporter.protocol import EXPORT_FIELDS
from leadlex_exporter.state import id_hash
from leadlex_exporter.timestamps import require_timestamp

logger = Logger(child=True)

RECOVERY_STEP_SECONDS = 5.0  # left before the deadline to read one object or commit
Recovered = tuple[list[dict[str, Any]], dict[str, list[tuple[bytes, datetime]]], dict[str, int]]


class GroupRecovery:
    def __init__(self, run: RunContext, workspace: str):
        self.run = run
        self.workspace = workspace

    def recover(self, checkpoint: Checkpoint, stats: CampaignStats) -> None:
        """Finish (or undo) the group a crashed invocation left pending on `checkpoint`."""
        assert checkpoint.pending is not None
        run = self.run
        info = protocol.manifest_of(run.store, checkpoint.pk, checkpoint.pending)
        if info is None:
            return  # another run finished it meanwhile
        group_id = info["id"]
        live = protocol.live_members(run.store, info)
        if checkpoint.pk not in live:
            return  # another run finished it meanwhile
        recovered = self._read_group(info, live)
        if recovered is None:
            try:
                protocol.roll_back(run, info, live)
            except LeaseLostError:
                return  # another run settled it at the same time
            logger.warning(
                "pending group rolled back",
                workspace=self.workspace,
                campaign_id=checkpoint.pk,
                group=group_id,
            )
            return
        notices, adds, counts = recovered
        self.run.deadline.check(RECOVERY_STEP_SECONDS)
        try:
            members = protocol.roll_forward(run, group_id, live, adds, notices)
        except LeaseLostError:
            return  # another run committed the same group at the same time
        stats.recovered += 1
        stats.exported += counts["exported"]
        stats.quarantined += counts["quarantined"]
        stats.notified += len(notices)
        logger.info(
            "pending group rolled forward",
            workspace=self.workspace,
            group=group_id,
            members=members,
            events=counts["exported"],
        )

    def _read_group(self, info: dict[str, Any], live: dict[str, PendingMember]) -> Recovered | None:
        """The notifications, recent ids and counts of a group, from its objects; None if one
        of them never landed."""
        notify_types = self.run.settings.notify_event_types
        solo = protocol.solo_campaign(info)
        notices: list[dict[str, Any]] = []
        adds: dict[str, list[tuple[bytes, datetime]]] = {}
        counts = {"exported": 0, "quarantined": 0}
        bounds = {pk: protocol.bounds_of(m) for pk, m in live.items()}
        quarantine_prefix = self.run.settings.quarantine_prefix + "/"
        # The fields the exporter added; an event's own field of the same name differs from them.
        added = {name: info[name] for name in EXPORT_FIELDS}
        for key in info["keys"]:
            # A large group takes a while to read back: never past the deadline (it stays
            # pending, and the next run starts over).
            self.run.deadline.check(RECOVERY_STEP_SECONDS)
            body = self.run.sink.get(key)
            if body is None:
                return None
            quarantine = key.startswith(quarantine_prefix)
            for item in read_records(body):
                campaign_id = solo or str(item.get("campaign_id"))
                pk = campaign_pk(self.workspace, campaign_id)
                if quarantine:
                    record_key, placed, _ = identify(item.get("raw"))
                    counts["quarantined"] += 1
                    instant = placed
                else:
                    added.update(workspace=self.workspace, campaign_id=campaign_id)
                    event = {k: v for k, v in item.items() if not (k in added and v == added[k])}
                    record_key = id_hash(event.get("id"))
                    instant = require_timestamp(event.get("timestamp"))
                    counts["exported"] += 1
                    if event.get("type") in notify_types:
                        notices.append(self.run.notifier.entry(event, self.workspace, campaign_id))
                if pk not in bounds:
                    continue
                floor, unplaced_at = bounds[pk]
                when = instant or unplaced_at
                if when >= floor:
                    adds.setdefault(pk, []).append((record_key, when))
        return notices, adds, counts
