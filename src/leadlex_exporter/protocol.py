"""The commit protocol of a group: what a commit writes, in which order, and how one that a
crashed run left pending is settled. group.py seals groups and recovery.py finds pending ones;
both go through here.

A group commits in four steps:
  1. DynamoDB, one transaction: every member campaign gets `pending` (its state after the
     group), fenced by its lease and seq; the first member's, the leader's, also holds the
     group's manifest (object keys and members), the others name that member
  2. S3: one object per event date (and one for quarantine), at keys fixed by (run, group)
  3. SQS: the rest of the group's notifications (full batches went out as they filled)
  4. DynamoDB, one transaction: every member's new state, seq + 1, `pending` removed
A crash leaves the group pending on all its members at once. The first run that acquires any
member settles it: if every object landed, it sends the notifications again and commits every
member (roll forward); if one is missing, it deletes the others and clears `pending` (roll
back: the pages are read again). Both are conditional on `pending_group`, so a group is settled
once even when two runs meet it at the same time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote

from leadlex_exporter.checkpoints import CheckpointStore, MemberCommit, PendingMember
from leadlex_exporter.context import RunContext
from leadlex_exporter.errors import PendingGroupError
from leadlex_exporter.notify_sqs import HeldBatches
from leadlex_exporter.objects import Objects
from leadlex_exporter.state import CampaignState, RecentIds
from leadlex_exporter.timestamps import require_timestamp

# The exporter's fields after the event's own, in this order; an event's own field of one of
# these names is kept and the exporter's is left out.
CONTEXT_FIELDS = ("workspace", "campaign_id", "exported_at", "export_run")
# Fixed per group and kept in its manifest, so recovery can tell them from an event's own.
EXPORT_FIELDS = ("exported_at", "export_run")


@dataclass
class GroupCommit:
    """A sealed group: everything its commit writes, fixed before the commit starts."""

    group_id: str
    commits: list[MemberCommit]  # one per member, the leader first
    bounds: list[tuple[datetime, datetime]]  # per member: its recent floor and unplaced_at
    objects: Objects
    keys: dict[str | None, str]  # object key by target (event date, None for quarantine)
    solo: bool  # one campaign whose events name another: records carry no campaign_id of ours
    notifications: HeldBatches  # its notifications, on their way
    exported_at: str  # what its records carry (with the run's id as export_run)


def commit(run: RunContext, group: GroupCommit) -> None:
    """Steps 1-4 of the module docstring for a sealed group."""
    store, pending_group = run.store, None
    try:
        # Compression ends first (it frees the zlib state while DynamoDB works).
        bodies = group.objects.finish() if group.keys else {}
        if group.keys:
            pending_group = group.group_id
            for member in group.commits:  # states too large for their items go to S3 first
                store.spill(member)
            store.record_pending_group(run.run_id, group.group_id, _pending_items(group, run))
            # Pending now: its notifications may go (a repeat needs a crash from here on).
            group.notifications.start()
            run.sink.put_many([(key, bodies[t]) for t, key in group.keys.items()])
    finally:
        group.objects.close()
        group.notifications.wait()  # also when the rest failed: nothing is left sending
    store.commit_group(run.run_id, pending_group, group.commits, run.clock.now().isoformat())


def _pending_items(group: GroupCommit, run: RunContext) -> list[tuple[MemberCommit, str]]:
    """Step 1's `pending` of every member: the manifest goes on the leader only, the others
    name it. The group is pending on all of them or on none."""
    commits = group.commits
    manifest = {
        "id": group.group_id,
        "keys": list(group.keys.values()),
        "solo": group.solo,
        "members": [[c.pk, c.seq] for c in commits],
        # the values of EXPORT_FIELDS in its records: recovery strips them
        "exported_at": group.exported_at,
        "export_run": run.run_id,
    }
    reference = {"id": group.group_id, "leader": commits[0].pk}
    return [
        (c, pending_value(manifest if i == 0 else reference, c, floor, unplaced))
        for i, (c, (floor, unplaced)) in enumerate(zip(commits, group.bounds, strict=True))
    ]


def pending_value(
    info: dict[str, Any], commit: MemberCommit, floor: datetime, unplaced: datetime
) -> str:
    """A member's `pending`: its group (the manifest, or the leader's name), the seq and state
    it moves to, and the bounds recovery needs to rebuild its recent ids."""
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


# -- settling a group a crashed run left pending ---------------------------------------------
def manifest_of(store: CheckpointStore, pk: str, pending: dict[str, Any]) -> dict[str, Any] | None:
    """The manifest of the group pending on `pk`: its own if it is the leader, else the
    leader's. None: the group is settled (it is pending on all its members or on none, so the
    leader tells)."""
    info: dict[str, Any] = pending["group"]
    if "keys" in info:
        return info
    leader = store.pending_members(info["id"], [info["leader"]])
    if info["leader"] not in leader:
        return None
    manifest: dict[str, Any] = leader[info["leader"]].pending["group"]
    if manifest.get("id") != info["id"] or pk not in (m for m, _ in manifest["members"]):
        raise PendingGroupError(
            f"pending commit group {info['id']} names a leader whose manifest does not "
            f"list {pk}; the group is left pending"
        )
    return manifest


def live_members(store: CheckpointStore, manifest: dict[str, Any]) -> dict[str, PendingMember]:
    """The members that still have the group pending (all of them, or none)."""
    return store.pending_members(manifest["id"], [pk for pk, _ in manifest["members"]])


def bounds_of(member: PendingMember) -> tuple[datetime, datetime]:
    """A member's recent floor and unplaced_at, as step 1 recorded them."""
    pending = member.pending
    return (
        datetime.fromisoformat(pending["recent_floor"]),
        datetime.fromisoformat(pending["unplaced_at"]),
    )


def solo_campaign(manifest: dict[str, Any]) -> str | None:
    """The campaign of a solo group (its records' campaign_id are the events' own)."""
    if not manifest["solo"]:
        return None
    return unquote(manifest["members"][0][0].rsplit("#", 1)[1])


def roll_back(run: RunContext, manifest: dict[str, Any], live: dict[str, PendingMember]) -> None:
    """Undo a group: its objects go and `pending` is cleared (LeaseLostError: another run
    settled it at the same time)."""
    for key in manifest["keys"]:
        run.sink.delete(key)
    run.store.clear_group(manifest["id"], list(live))


def roll_forward(
    run: RunContext,
    group_id: str,
    live: dict[str, PendingMember],
    adds: dict[str, list[tuple[bytes, datetime]]],
    notices: list[dict[str, Any]],
) -> int:
    """Finish a group whose objects all landed: its notifications go again, then every member
    that still has it pending moves to its state after the group (`adds`: each member's ids of
    the group's records, for its recent set). Returns the members committed (LeaseLostError:
    another run committed it at the same time)."""
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
    run.store.commit_group(run.run_id, group_id, commits, run.clock.now().isoformat())
    return len(commits)
