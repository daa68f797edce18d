"""DynamoDB state: per-campaign checkpoints with a lease, and per-key quota memory.

Every write that changes a checkpoint is conditional on this invocation owning the lease and on
the sequence number it read, so two overlapping invocations can never both commit a batch.
The lease runs until the owner's deadline (its start plus the time its context gave it): after a
crash, the first run that starts past that deadline takes over and finishes the pending commit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from botocore.exceptions import ClientError

from leadlex_exporter.errors import LeaseHeldError, LeaseLostError
from leadlex_exporter.quota import QuotaState
from leadlex_exporter.state import CampaignState, RecentIds


def campaign_pk(workspace: str, campaign_id: str) -> str:
    return f"campaign#{quote(workspace, safe='')}#{quote(campaign_id, safe='')}"


@dataclass
class Checkpoint:
    pk: str
    seq: int
    state: CampaignState
    recent: RecentIds
    pending: dict[str, Any] | None


class CheckpointStore:
    def __init__(self, dynamodb_client: Any, table: str):
        self.ddb = dynamodb_client
        self.table = table
        self.writes = 0

    def acquire(
        self, workspace: str, campaign_id: str, owner: str, until_ms: int, now_ms: int
    ) -> Checkpoint:
        pk = campaign_pk(workspace, campaign_id)
        try:
            item = self._update(
                pk,
                "SET lease_owner = :o, lease_until = :u, workspace = :w, campaign_id = :c",
                "attribute_not_exists(lease_until) OR lease_until < :now OR lease_owner = :o",
                {
                    ":o": {"S": owner},
                    ":u": {"N": str(until_ms)},
                    ":now": {"N": str(now_ms)},
                    ":w": {"S": workspace},
                    ":c": {"S": campaign_id},
                },
                returns="ALL_NEW",
            )
        except ClientError as exc:
            if _conditional(exc):
                raise LeaseHeldError("another invocation holds this campaign") from None
            raise
        return Checkpoint(
            pk=pk,
            seq=int(item.get("seq", {}).get("N", "0")),
            state=CampaignState.from_json(item.get("state", {}).get("S")),
            recent=RecentIds.from_bytes(item.get("recent", {}).get("B")),
            pending=json.loads(item["pending"]["S"]) if "pending" in item else None,
        )

    def record_pending(self, pk: str, owner: str, seq: int, pending: dict[str, Any]) -> None:
        self._fenced(
            pk,
            owner,
            seq,
            "SET pending = :p",
            {":p": {"S": json.dumps(pending, separators=(",", ":"))}},
        )

    def clear_pending(self, pk: str, owner: str, seq: int) -> None:
        self._fenced(pk, owner, seq, "REMOVE pending", {})

    def commit(
        self,
        pk: str,
        owner: str,
        seq: int,
        new_seq: int,
        state: CampaignState,
        recent: RecentIds,
        updated_at: str,
        release: bool = False,
    ) -> None:
        """The new state; with `release`, the lease goes in the same write (nothing follows)."""
        values: dict[str, Any] = {
            ":n": {"N": str(new_seq)},
            ":s": {"S": state.to_json()},
            ":t": {"S": updated_at},
        }
        expression = "SET seq = :n, #st = :s, updated_at = :t"
        removed = ["pending", *(["lease_owner", "lease_until"] if release else [])]
        blob = recent.to_bytes()
        if blob:
            values[":r"] = {"B": blob}
            expression += ", recent = :r"
        else:
            removed.append("recent")
        self._fenced(pk, owner, seq, f"{expression} REMOVE {', '.join(removed)}", values)

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
        self.writes += 1
        self.ddb.put_item(
            TableName=self.table,
            Item={
                "pk": {"S": f"quota#{fingerprint}"},
                "quota": {"S": json.dumps(state.__dict__)},
                "ttl": {"N": str(ttl)},
            },
        )

    def _fenced(
        self, pk: str, owner: str, seq: int, expression: str, values: dict[str, Any]
    ) -> None:
        condition = "lease_owner = :o AND " + (
            "seq = :seq" if seq else "(attribute_not_exists(seq) OR seq = :seq)"
        )
        values = {**values, ":o": {"S": owner}, ":seq": {"N": str(seq)}}
        try:
            self._update(pk, expression, condition, values)
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
        names = {"#st": "state"} if "#st" in expression else None
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "Key": {"pk": {"S": pk}},
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ReturnValues": returns,
        }
        if names:
            kwargs["ExpressionAttributeNames"] = names
        self.writes += 1
        response = self.ddb.update_item(**kwargs)
        attributes: dict[str, Any] = response.get("Attributes", {})
        return attributes


def _conditional(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"
