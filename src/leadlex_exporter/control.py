"""What an operator sets and reads besides the checkpoints: pauses, and each workspace's last run.

Two small items per workspace in the checkpoint table:
- `control#<workspace>`: `paused` (the whole workspace) and `paused_campaigns` (a string set),
  written by the CLI (`pause`, `resume`), read by the worker once per workspace and run. A paused
  workspace makes no call; a paused campaign is neither polled nor backfilled, and its lag does
  not count towards the workspace's (it is not stale, it is stopped). `history` maps a campaign
  to a history load asked for (`backfill`), until the campaign's own state holds it.
- `status#<workspace>`: the last run's outcome (time, run id, status, error, failed campaigns),
  written by the worker after each workspace, read by `status`. Bounded: at most
  MAX_FAILED_LISTED campaigns, each error cut to MAX_ERROR_CHARS.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from botocore.exceptions import ClientError

MAX_FAILED_LISTED = 50
# what `status` and the CLI show of a replay (replay.ReplayResult)
REPLAY_FIELDS = (
    "replayed",
    "api_calls",
    "records_rewritten",
    "objects_rewritten",
    "records_added",
    "stopped_early",
    "remaining",
)
MAX_ERROR_CHARS = 300


def control_pk(workspace: str) -> str:
    return f"control#{quote(workspace, safe='')}"


def status_pk(workspace: str) -> str:
    return f"status#{quote(workspace, safe='')}"


@dataclass(frozen=True)
class Control:
    """A workspace's control item: what is paused, and history loads asked for (`backfill`)."""

    workspace_paused: bool = False
    paused_campaigns: frozenset[str] = frozenset()
    # campaign id -> (from, to) as ISO instants, until the campaign's state holds the walk
    history_requests: dict[str, tuple[str, str]] = field(default_factory=dict)

    def paused(self, campaign_id: str) -> bool:
        return self.workspace_paused or campaign_id in self.paused_campaigns


class ControlStore:
    def __init__(self, dynamodb_client: Any, table: str):
        self.ddb = dynamodb_client
        self.table = table

    def load(self, workspace: str) -> Control:
        item = self.ddb.get_item(
            TableName=self.table, Key={"pk": {"S": control_pk(workspace)}}, ConsistentRead=True
        ).get("Item", {})
        requests = {}
        for campaign_id, value in item.get("history", {}).get("M", {}).items():
            lo, _, hi = value.get("S", "").partition("|")
            if lo and hi:
                requests[campaign_id] = (lo, hi)
        return Control(
            workspace_paused=bool(item.get("paused", {}).get("BOOL", False)),
            paused_campaigns=frozenset(item.get("paused_campaigns", {}).get("SS", [])),
            history_requests=requests,
        )

    def request_history(self, workspace: str, campaigns: Iterable[str], lo: str, hi: str) -> None:
        """Ask for the history [lo, hi] of these campaigns (replacing an earlier request)."""
        ids = sorted(set(campaigns))
        if not ids:
            return
        names = {f"#c{n}": c for n, c in enumerate(ids)}
        self.ddb.update_item(
            TableName=self.table,
            Key={"pk": {"S": control_pk(workspace)}},
            # the map first, then its entries (one expression cannot do both)
            UpdateExpression="SET history = if_not_exists(history, :empty)",
            ExpressionAttributeValues={":empty": {"M": {}}},
        )
        self.ddb.update_item(
            TableName=self.table,
            Key={"pk": {"S": control_pk(workspace)}},
            UpdateExpression="SET " + ", ".join(f"history.{n} = :r" for n in names),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={":r": {"S": f"{lo}|{hi}"}},
        )

    def drop_history_request(self, workspace: str, campaign_id: str, lo: str, hi: str) -> None:
        """The request is met (the campaign's state holds it): drop it, unless replaced."""
        try:
            self.ddb.update_item(
                TableName=self.table,
                Key={"pk": {"S": control_pk(workspace)}},
                UpdateExpression="REMOVE history.#c",
                ConditionExpression="history.#c = :r",
                ExpressionAttributeNames={"#c": campaign_id},
                ExpressionAttributeValues={":r": {"S": f"{lo}|{hi}"}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise

    def pause(self, workspace: str, campaigns: Iterable[str] = ()) -> None:
        self._set(workspace, campaigns, pause=True)

    def resume(self, workspace: str, campaigns: Iterable[str] = ()) -> None:
        self._set(workspace, campaigns, pause=False)

    def _set(self, workspace: str, campaigns: Iterable[str], pause: bool) -> None:
        ids = sorted(set(campaigns))
        key = {"pk": {"S": control_pk(workspace)}}
        if not ids:
            self.ddb.update_item(
                TableName=self.table,
                Key=key,
                UpdateExpression="SET paused = :p",
                ExpressionAttributeValues={":p": {"BOOL": pause}},
            )
            return
        # ADD and DELETE on a string set: two operators pausing different campaigns at once
        # both land (no read-modify-write).
        self.ddb.update_item(
            TableName=self.table,
            Key=key,
            UpdateExpression=("ADD" if pause else "DELETE") + " paused_campaigns :c",
            ExpressionAttributeValues={":c": {"SS": ids}},
        )

    def record_run(self, workspace: str, outcome: dict[str, Any]) -> None:
        """The workspace's last run (`status#`), from its WorkspaceResult.as_dict() entry."""
        failed = dict(list((outcome.get("failed_campaigns") or {}).items())[:MAX_FAILED_LISTED])
        item: dict[str, Any] = {
            "pk": {"S": status_pk(workspace)},
            "key_fingerprint": {"S": str(outcome.get("key_fingerprint", ""))},
            "run_id": {"S": str(outcome.get("run_id", ""))},
            "finished_at": {"S": str(outcome.get("finished_at", ""))},
            "status": {"S": str(outcome.get("status", ""))},
            "failed_campaigns": {
                "M": {c: {"S": str(e)[:MAX_ERROR_CHARS]} for c, e in failed.items()}
            },
        }
        if outcome.get("error"):
            item["error"] = {"S": str(outcome["error"])[:MAX_ERROR_CHARS]}
        detail = {
            "history_requests": dict(
                list((outcome.get("history_requests") or {}).items())[:MAX_FAILED_LISTED]
            ),
            "replays": {
                c: {k: v for k, v in r.items() if k in REPLAY_FIELDS}
                for c, r in list((outcome.get("replays") or {}).items())[:MAX_FAILED_LISTED]
            },
        }
        if outcome.get("target"):
            item["target"] = {"S": json.dumps(outcome["target"], sort_keys=True)}
        if any(detail.values()):
            item["detail"] = {"S": json.dumps(detail, separators=(",", ":"))}
        self.ddb.put_item(TableName=self.table, Item=item)

    def last_run(self, workspace: str) -> dict[str, Any] | None:
        item = self.ddb.get_item(TableName=self.table, Key={"pk": {"S": status_pk(workspace)}}).get(
            "Item"
        )
        if item is None:
            return None
        return {
            "key_fingerprint": item.get("key_fingerprint", {}).get("S"),
            "run_id": item.get("run_id", {}).get("S"),
            "finished_at": item.get("finished_at", {}).get("S"),
            "status": item.get("status", {}).get("S"),
            "error": item.get("error", {}).get("S"),
            "failed_campaigns": {
                c: v.get("S") for c, v in item.get("failed_campaigns", {}).get("M", {}).items()
            },
            "target": json.loads(item["target"]["S"]) if "target" in item else None,
            **json.loads(item.get("detail", {}).get("S", "{}")),
        }
