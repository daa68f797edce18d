"""DynamoDB state: per-campaign checkpoints with a lease, and per-key quota memory.

Every write that changes a checkpoint is conditional on this invocation owning the lease and on
the sequence number it read, so two overlapping invocations can never both commit a batch.
The lease runs until the owner's deadline (its start plus the time its context gave it): after a
crash, the first run that starts past that deadline takes over and finishes the pending commit.

A campaign's state (walks, watermark) and its recent-id set live in its item while they fit in
INLINE_STATE_BYTES. Past that (many events inside one lookback window, a walk over thousands of
undated records) they move to one S3 object, `_state/<pk>/<seq>`, written before the DynamoDB
write that names it (`state_ref`), at a key fixed by the commit's sequence number: a crash leaves
at most an unnamed object that the next commit at that sequence overwrites. The object of the
sequence before goes once the item names the new one. So every item stays under DynamoDB's
400 KB and a transaction of 100 members under 4 MB, and the recent set never forgets an id.
"""

from __future__ import annotations

import contextlib
import json
import struct
import zlib
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

from botocore.exceptions import ClientError

from leadlex_exporter.errors import LeaseHeldError, LeaseLostError, PendingGroupError
from leadlex_exporter.planner import WorkspacePlan
from leadlex_exporter.quota import QuotaState
from leadlex_exporter.state import CampaignState, RecentIds

# A plan item holds every campaign of a workspace (about 25 bytes each once compressed, 60
# with UUID ids): past this size it is not saved (logged) and the planner starts afresh.
MAX_PLAN_BYTES = 350_000
# State JSON plus recent ids (16 bytes each) kept in the item; more goes to S3. 100 members of a
# transaction then write at most 100 x (12 KB + keys) under its 4 MB, and an item (the leader's
# manifest aside, group.MAX_MANIFEST_BYTES) stays far under 400 KB.
INLINE_STATE_BYTES = 12_000
STATE_PREFIX = "_state"  # outside any export prefix (those start with [a-z0-9])
_HEADER = struct.Struct(">I")


class Blobs(Protocol):
    def put(self, key: str, body: bytes) -> None: ...
    def get(self, key: str) -> bytes | None: ...
    def delete(self, key: str) -> None: ...


def state_key(pk: str, seq: int) -> str:
    return f"{STATE_PREFIX}/{quote(pk, safe='')}/{seq:012d}"


def pack_state(state: str, recent: RecentIds) -> bytes:
    text = state.encode()
    return zlib.compress(_HEADER.pack(len(text)) + text + recent.to_bytes(), 1)


def unpack_state(blob: bytes) -> tuple[str, RecentIds]:
    data = zlib.decompress(blob)
    (length,) = _HEADER.unpack_from(data)
    start = _HEADER.size
    return data[start : start + length].decode(), RecentIds.from_bytes(data[start + length :])


def campaign_pk(workspace: str, campaign_id: str) -> str:
    return f"campaign#{quote(workspace, safe='')}#{quote(campaign_id, safe='')}"


def plan_pk(workspace: str) -> str:
    return f"plan#{quote(workspace, safe='')}"


def plan_from_item(item: dict[str, Any] | None) -> StoredPlan:
    if not item or "plan" not in item:
        return StoredPlan(WorkspacePlan(), 0)
    data = json.loads(zlib.decompress(item["plan"]["B"]))
    return StoredPlan(WorkspacePlan.from_json(data), int(item["version"]["N"]))


class PlanTooLargeError(ValueError):
    """The workspace's plan does not fit one DynamoDB item."""


@dataclass
class StoredPlan:
    plan: WorkspacePlan
    version: int  # 0: none stored yet


@dataclass
class MemberCommit:
    """One campaign's part of a group commit: its state after the group (`seq` is the one read)."""

    pk: str
    seq: int
    state: str
    recent: RecentIds
    release: bool = False
    state_ref: str | None = None  # where state and recent went, when too large for the item
    previous_ref: str | None = None  # the object the item named before (deleted after)

    @property
    def inline(self) -> bool:
        return len(self.state) + 16 * len(self.recent) <= INLINE_STATE_BYTES


@dataclass
class PendingMember:
    pending: dict[str, Any]
    recent: RecentIds
    state_ref: str | None = None


@dataclass
class Checkpoint:
    pk: str
    seq: int
    state: CampaignState
    recent: RecentIds
    pending: dict[str, Any] | None
    state_ref: str | None = None


class CheckpointStore:
    def __init__(self, dynamodb_client: Any, table: str, blobs: Blobs | None = None):
        self.ddb = dynamodb_client
        self.table = table
        self.blobs = blobs

    def acquire(
        self, workspace: str, campaign_id: str, owner: str, until_ms: int, now_ms: int
    ) -> Checkpoint:
        pk = campaign_pk(workspace, campaign_id)
        try:
            item = self._update(
                pk,
                # (workspace and campaign are in the key; a lease writes only what it must)
                "SET lease_owner = :o, lease_until = :u",
                "attribute_not_exists(lease_until) OR lease_until < :now OR lease_owner = :o",
                {":o": {"S": owner}, ":u": {"N": str(until_ms)}, ":now": {"N": str(now_ms)}},
                returns="ALL_NEW",
            )
        except ClientError as exc:
            if _conditional(exc):
                raise LeaseHeldError("another invocation holds this campaign") from None
            raise
        return self._checkpoint(pk, item)

    def peek(self, workspace: str, campaign_id: str) -> tuple[Checkpoint, str | None, int]:
        """A campaign's checkpoint read without taking its lease (nothing written), with the
        lease's owner and end (Unix ms; 0 when none)."""
        pk = campaign_pk(workspace, campaign_id)
        item = self.ddb.get_item(
            TableName=self.table, Key={"pk": {"S": pk}}, ConsistentRead=True
        ).get("Item", {})
        owner = item.get("lease_owner", {}).get("S")
        return self._checkpoint(pk, item), owner, int(item.get("lease_until", {}).get("N", "0"))

    def _checkpoint(self, pk: str, item: dict[str, Any]) -> Checkpoint:
        state, recent = self._state_of(item)
        return Checkpoint(
            pk=pk,
            seq=int(item.get("seq", {}).get("N", "0")),
            state=CampaignState.from_json(state),
            recent=recent,
            pending=json.loads(item["pending"]["S"]) if "pending" in item else None,
            state_ref=item.get("state_ref", {}).get("S"),
        )

    def item_state(self, item: dict[str, Any]) -> CampaignState:
        """The campaign state an item holds (read from its object when it names one)."""
        return CampaignState.from_json(self._state_of(item)[0])

    def _state_of(self, item: dict[str, Any]) -> tuple[str | None, RecentIds]:
        """The state JSON and recent ids of an item, from S3 when the item names an object."""
        ref = item.get("state_ref", {}).get("S")
        if ref is None:
            return item.get("state", {}).get("S"), RecentIds.from_bytes(
                item.get("recent", {}).get("B")
            )
        state, recent = unpack_state(self._blob(ref))
        return state, recent

    def pending_state(self, pending: dict[str, Any]) -> str:
        """The state a pending commit moves to (in `pending`, or in its object)."""
        if "state" in pending:
            return str(pending["state"])
        return unpack_state(self._blob(pending["state_ref"]))[0]

    def load_state_object(self, ref: str) -> tuple[str, RecentIds]:
        return unpack_state(self._blob(ref))

    def _blob(self, ref: str) -> bytes:
        if self.blobs is None:
            raise PendingGroupError(f"state object {ref} named, but no bucket to read it from")
        blob = self.blobs.get(ref)
        if blob is None:
            raise PendingGroupError(
                f"state object {ref} is missing; the checkpoint moved on meanwhile or the "
                "object was deleted by hand"
            )
        return blob

    def spill(self, commit: MemberCommit) -> None:
        """Write a member's state and recent ids to their object if they are too large for
        the item (before any DynamoDB write names it); at most once per commit."""
        if commit.inline or commit.state_ref is not None:
            return
        if self.blobs is None:
            raise PendingGroupError("state too large for its item, and no bucket for it")
        key = state_key(commit.pk, commit.seq + 1)
        self.blobs.put(key, pack_state(commit.state, commit.recent))
        commit.state_ref = key

    def record_pending_group(
        self, owner: str, group_id: str, members: list[tuple[MemberCommit, str]]
    ) -> None:
        """Step 1 of a group commit: `pending` on every member, in one transaction."""
        self._transact(
            [
                self._fence(
                    commit.pk,
                    owner,
                    commit.seq,
                    "SET pending = :p, pending_group = :g",
                    {":p": {"S": pending}, ":g": {"S": group_id}},
                )
                for commit, pending in members
            ]
        )

    def commit_group(
        self, owner: str, group_id: str | None, commits: list[MemberCommit], updated_at: str
    ) -> None:
        """The members' new states in one transaction. With a pending group, each member is
        matched by `pending_group` (a recovering run may not hold every member's lease);
        without one, by lease and seq. A member with `release` lets its lease go too."""
        updates = []
        for commit in commits:
            values: dict[str, Any] = {
                ":n": {"N": str(commit.seq + 1)},
                ":s": {"S": commit.state},
                ":t": {"S": updated_at},
            }
            removed = ["pending", "pending_group"]
            if commit.release:
                removed += ["lease_owner", "lease_until"]
            self.spill(commit)
            if commit.state_ref is not None:
                expression = "SET seq = :n, state_ref = :ref, updated_at = :t"
                del values[":s"]
                values[":ref"] = {"S": commit.state_ref}
                removed += ["#st", "recent"]
            else:
                expression = "SET seq = :n, #st = :s, updated_at = :t"
                removed.append("state_ref")
                blob = commit.recent.to_bytes()
                if blob:
                    values[":r"] = {"B": blob}
                    expression += ", recent = :r"
                else:
                    removed.append("recent")
            expression += f" REMOVE {', '.join(removed)}"
            if group_id is None:
                updates.append(self._fence(commit.pk, owner, commit.seq, expression, values))
            else:
                values.update({":g": {"S": group_id}, ":seq": {"N": str(commit.seq)}})
                condition = "pending_group = :g AND " + _seq_condition(commit.seq)
                updates.append(self._item(commit.pk, expression, condition, values))
        self._transact(updates)
        for commit in commits:
            if commit.previous_ref and commit.previous_ref != commit.state_ref and self.blobs:
                # failing, it leaves an object nobody names: storage, never correctness
                with contextlib.suppress(ClientError):
                    self.blobs.delete(commit.previous_ref)

    def pending_members(self, group_id: str, pks: list[str]) -> dict[str, PendingMember]:
        """The members of a group that still have it pending (all of them, or none)."""
        found: dict[str, PendingMember] = {}
        keys = [{"pk": {"S": pk}} for pk in pks]
        while keys:
            response = self.ddb.batch_get_item(
                RequestItems={self.table: {"Keys": keys[:100], "ConsistentRead": True}}
            )
            for item in response.get("Responses", {}).get(self.table, []):
                if item.get("pending_group", {}).get("S") == group_id:
                    found[item["pk"]["S"]] = PendingMember(
                        pending=json.loads(item["pending"]["S"]),
                        recent=self._state_of(item)[1],
                        state_ref=item.get("state_ref", {}).get("S"),
                    )
            unprocessed = response.get("UnprocessedKeys", {}).get(self.table, {}).get("Keys", [])
            keys = unprocessed + keys[100:]
        return found

    def clear_group(self, group_id: str, pks: list[str]) -> None:
        """Roll a group back: `pending` goes, states stay."""
        self._transact(
            [
                self._item(
                    pk,
                    "REMOVE pending, pending_group",
                    "pending_group = :g",
                    {":g": {"S": group_id}},
                )
                for pk in pks
            ]
        )

    def release(self, pk: str, owner: str) -> None:
        try:
            self._update(
                pk, "REMOVE lease_owner, lease_until", "lease_owner = :o", {":o": {"S": owner}}
            )
        except ClientError as exc:
            if not _conditional(exc):
                raise

    def load_quota(self, fingerprint: str) -> QuotaState:
        item = self.ddb.get_item(
            TableName=self.table, Key={"pk": {"S": f"quota#{fingerprint}"}}, ConsistentRead=True
        ).get("Item")
        if not item or "quota" not in item:
            return QuotaState()
        return QuotaState(**json.loads(item["quota"]["S"]))

    def save_quota(self, fingerprint: str, state: QuotaState, ttl: int) -> None:
        self.ddb.put_item(
            TableName=self.table,
            Item={
                "pk": {"S": f"quota#{fingerprint}"},
                "quota": {"S": json.dumps(state.__dict__)},
                "ttl": {"N": str(ttl)},
            },
        )

    def load_plan(self, workspace: str) -> StoredPlan:
        item = self.ddb.get_item(
            TableName=self.table, Key={"pk": {"S": plan_pk(workspace)}}, ConsistentRead=True
        ).get("Item")
        return plan_from_item(item)

    def save_plan(self, workspace: str, stored: StoredPlan) -> bool:
        """Write the plan if nobody did since it was read (False: someone did; read again)."""
        blob = zlib.compress(json.dumps(stored.plan.to_json(), separators=(",", ":")).encode(), 6)
        if len(blob) > MAX_PLAN_BYTES:
            count = len(stored.plan.campaigns)
            raise PlanTooLargeError(f"the plan of {count} campaigns is too large")
        condition = "attribute_not_exists(pk)" if not stored.version else "version = :v"
        values = {":v": {"N": str(stored.version)}} if stored.version else None
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "Item": {
                "pk": {"S": plan_pk(workspace)},
                "plan": {"B": blob},
                "version": {"N": str(stored.version + 1)},
            },
            "ConditionExpression": condition,
        }
        if values:
            kwargs["ExpressionAttributeValues"] = values
        try:
            self.ddb.put_item(**kwargs)
        except ClientError as exc:
            if _conditional(exc):
                return False
            raise
        stored.version += 1
        return True

    def _fence(
        self, pk: str, owner: str, seq: int, expression: str, values: dict[str, Any]
    ) -> dict[str, Any]:
        # Never over a pending group: its pages are not in the state yet, and only settling
        # that group (recovery.py) may move the campaign on.
        condition = (
            "lease_owner = :o AND attribute_not_exists(pending_group) AND " + _seq_condition(seq)
        )
        values = {**values, ":o": {"S": owner}, ":seq": {"N": str(seq)}}
        return self._item(pk, expression, condition, values)

    def _item(
        self, pk: str, expression: str, condition: str, values: dict[str, Any]
    ) -> dict[str, Any]:
        update: dict[str, Any] = {
            "TableName": self.table,
            "Key": {"pk": {"S": pk}},
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": values,
        }
        if "#st" in expression:
            update["ExpressionAttributeNames"] = {"#st": "state"}
        return update

    def _transact(self, updates: list[dict[str, Any]]) -> None:
        """All updates or none; a failed condition is LeaseLostError."""
        if not updates:
            return
        try:
            if len(updates) == 1:
                self.ddb.update_item(**updates[0])
            else:
                self.ddb.transact_write_items(TransactItems=[{"Update": u} for u in updates])
        except ClientError as exc:
            if _conditional(exc):
                raise LeaseLostError("the checkpoint changed under this invocation") from None
            raise

    def _update(
        self,
        pk: str,
        expression: str,
        condition: str,
        values: dict[str, Any],
        returns: str = "NONE",
    ) -> dict[str, Any]:
        kwargs = self._item(pk, expression, condition, values)
        kwargs["ReturnValues"] = returns
        response = self.ddb.update_item(**kwargs)
        attributes: dict[str, Any] = response.get("Attributes", {})
        return attributes


def _seq_condition(seq: int) -> str:
    return "seq = :seq" if seq else "(attribute_not_exists(seq) OR seq = :seq)"


def _conditional(exc: ClientError) -> bool:
    error = exc.response.get("Error", {})
    if error.get("Code") == "ConditionalCheckFailedException":
        return True
    reasons = exc.response.get("CancellationReasons") or []
    return error.get("Code") == "TransactionCanceledException" and any(
        r.get("Code") == "ConditionalCheckFailed" for r in reasons
    )
