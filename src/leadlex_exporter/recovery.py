"""Finishing a commit group that a crashed invocation left pending (see group.py).

The first run that acquires any member reads the group's objects back (their keys and the
members are on the group's first member, the leader, whom the others name). If all of them
landed, it sends their notifications again and commits every member that still has the group
pending (roll forward); if any is missing, it deletes the others and clears `pending` (roll
back: the pages are read again). Both are conditional on `pending_group`, so a group is settled
once even when two runs meet it at the same time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import unquote

from aws_lambda_powertools import Logger

from leadlex_exporter.checkpoints import Checkpoint, MemberCommit, PendingMember, campaign_pk
from leadlex_exporter.context import CampaignStats, RunContext
from leadlex_exporter.errors import LeaseLostError, PendingGroupError
from leadlex_exporter.group import EXPORT_FIELDS, updated_recent
from leadlex_exporter.identity import identify
from leadlex_exporter.objects import read_records
from leadlex_exporter.state import CampaignState, id_hash
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
        info = self._manifest(checkpoint.pk, checkpoint.pending["group"])
        if info is None:
            return  # another run finished it meanwhile
        group_id = info["id"]
        live = run.store.pending_members(group_id, [pk for pk, _ in info["members"]])
        if checkpoint.pk not in live:
            return  # another run finished it meanwhile
        recovered = self._read_group(info, live)
        if recovered is None:
            for key in info["keys"]:
                run.sink.delete(key)
            try:
                run.store.clear_group(group_id, list(live))
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
        # Its own notifier: the run's may hold the open group's notifications.
        notifier = run.notifier.sibling()
        for notice in notices:
            notifier.queue(notice)
        notifier.drain()
        commits = []
        for pk, member in live.items():
            pending = member.pending
            ref = pending.get("state_ref")
            if ref is None:
                text = pending["state"]
                state = CampaignState.from_json(text)
                recent = updated_recent(member.recent, adds.get(pk, []), state, run.lookback)
            else:  # the crashed run wrote the state after the group, recent ids and all
                text, recent = run.store.load_state_object(ref)
            commits.append(
                MemberCommit(
                    pk=pk,
                    seq=pending["seq"] - 1,
                    state=text,
                    recent=recent,
                    state_ref=ref,
                    previous_ref=member.state_ref,
                )
            )
        try:
            run.store.commit_group(run.run_id, group_id, commits, run.clock.now().isoformat())
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
            members=len(commits),
            events=counts["exported"],
        )

    def _manifest(self, pk: str, info: dict[str, Any]) -> dict[str, Any] | None:
        """The group's object keys and members: held by the leader, named by the others.
        None: the group is settled (it is pending on all its members or on none, so the
        leader tells)."""
        if "keys" in info:
            return info
        leader = self.run.store.pending_members(info["id"], [info["leader"]])
        if info["leader"] not in leader:
            return None
        manifest: dict[str, Any] = leader[info["leader"]].pending["group"]
        if manifest.get("id") != info["id"] or pk not in (m for m, _ in manifest["members"]):
            raise PendingGroupError(
                f"pending commit group {info['id']} names a leader whose manifest does not "
                f"list {pk}; the group is left pending"
            )
        return manifest

    def _read_group(self, info: dict[str, Any], live: dict[str, PendingMember]) -> Recovered | None:
        """The notifications, recent ids and counts of a group, from its objects; None if one
        of them never landed."""
        notify_types = self.run.settings.notify_event_types
        solo = _solo_campaign(info) if info["solo"] else None
        notices: list[dict[str, Any]] = []
        adds: dict[str, list[tuple[bytes, datetime]]] = {}
        counts = {"exported": 0, "quarantined": 0}
        bounds = {
            pk: (
                datetime.fromisoformat(m.pending["recent_floor"]),
                datetime.fromisoformat(m.pending["unplaced_at"]),
            )
            for pk, m in live.items()
        }
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


def _solo_campaign(info: dict[str, Any]) -> str:
    return unquote(info["members"][0][0].rsplit("#", 1)[1])
