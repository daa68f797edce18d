"""Renaming a workspace without starting its campaigns again (`leadlex-exporter rename`).

Checkpoints belong to (workspace name, campaign), so a new name in the secret alone would start
every campaign from nothing and export its history a second time. `rename` moves the state:

1. It refuses while any campaign of the old name is pending (a crashed commit the next run
   settles) or leased by a live run, and pauses the old name, so no run moves its checkpoints
   while they are copied.
2. It copies every item of the old name (checkpoints, poll plan, control item, last run) to the
   new one, with no lease; a checkpoint whose state lives in S3 gets a copy of that object under
   the new key. Copies are conditional (the new name must be unused, or hold this rename's own
   copies), so running `rename` again after an interruption finishes the job.
3. It renames the secret's entry (the key is read and written back, never shown), then deletes
   the old items and their state objects, and restores the pause the workspace had before.

The events already in S3 keep the old name: their records and partition paths say
`workspace=<old>`. Rewriting them would copy and delete every object, and a reader globbing the
prefix would see each event twice in between; query both names instead.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import quote

from botocore.exceptions import ClientError

from leadlex_exporter.checkpoints import plan_pk, state_key
from leadlex_exporter.console import Progress
from leadlex_exporter.control import control_pk, status_pk
from leadlex_exporter.deployment import Deployment, OperationError, scan


def rename(deployment: Deployment, old: str, new: str, progress: Progress) -> dict[str, Any]:
    if not new.strip() or new == old:
        raise OperationError("the new name must differ from the old one and not be empty")
    ddb, s3 = deployment.client("dynamodb"), deployment.client("s3")
    secrets = deployment.client("secretsmanager")
    document = json.loads(secrets.get_secret_value(SecretId=deployment.secret_id)["SecretString"])
    entries = document.get("workspaces") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise OperationError("the secret is not a workspaces document")
    names = [e.get("name") for e in entries if isinstance(e, dict)]
    if new in names and old in names:
        raise OperationError(f"the secret already has a workspace named {new!r}")
    if new in names:  # an interrupted rename, past the secret: only the old items are left
        copies = [i for i in _items_of(scan(deployment), new) if "renamed_from" in i]
        if not copies or any(i["renamed_from"]["S"] != old for i in copies):
            raise OperationError(f"the secret already has a workspace named {new!r}")
        leftovers = _items_of(scan(deployment), old)
        _delete(ddb, s3, deployment.bucket, deployment.table, leftovers)
        return {"from": old, "to": new, "campaigns": 0, "items": len(leftovers), "resumed": True}
    if old not in names:
        raise OperationError(f"the secret has no workspace named {old!r}")

    items, was_paused = _pause_idle(deployment, old)
    progress.total = len(items)
    for n, item in enumerate(items, 1):
        progress.update(n, item["pk"]["S"][:40])
        try:
            _copy(deployment, item, old, new, was_paused)
        except OperationError:
            _set_paused(ddb, deployment.table, old, was_paused)
            raise
    progress.done()

    for entry in entries:
        if isinstance(entry, dict) and entry.get("name") == old:
            entry["name"] = new
    secrets.put_secret_value(SecretId=deployment.secret_id, SecretString=json.dumps(document))
    _delete(ddb, s3, deployment.bucket, deployment.table, items)
    campaigns = sum(i["pk"]["S"].startswith("campaign#") for i in items)
    return {"from": old, "to": new, "campaigns": campaigns, "items": len(items)}


def _pause_idle(deployment: Deployment, old: str) -> tuple[list[dict[str, Any]], bool]:
    """The old name's items, once it is paused with nothing pending or leased (else a
    OperationError, the pause as it was); and whether it was paused before."""
    ddb, table = deployment.client("dynamodb"), deployment.table
    items = _items_of(scan(deployment), old)
    _check_idle(items)
    control = next((i for i in items if i["pk"]["S"] == control_pk(old)), None)
    was_paused = bool(control and control.get("paused", {}).get("BOOL"))
    _set_paused(ddb, table, old, True)
    items = _items_of(scan(deployment), old)  # again, now that no run can start on it
    try:
        _check_idle(items)
    except OperationError:
        _set_paused(ddb, table, old, was_paused)
        raise
    return items, was_paused


def _check_idle(items: list[dict[str, Any]]) -> None:
    now_ms = int(time.time() * 1000)
    for item in items:
        if "pending" in item:
            raise OperationError(
                f"{item['pk']['S']} has a pending commit; the next run settles it, then retry"
            )
        until = int(item.get("lease_until", {}).get("N", "0"))
        if until > now_ms:
            raise OperationError(
                f"{item['pk']['S']} is leased by a run until {until // 1000}; retry"
            )


def _copy(deployment: Deployment, item: dict[str, Any], old: str, new: str, paused: bool) -> None:
    """One item under the new name (its state object too), unless the name was used."""
    copy = _renamed(item, old, new, paused)
    ref = item.get("state_ref", {}).get("S")
    if ref is not None:
        target = state_key(copy["pk"]["S"], int(item.get("seq", {}).get("N", "0")))
        deployment.client("s3").copy_object(
            Bucket=deployment.bucket,
            Key=target,
            CopySource={"Bucket": deployment.bucket, "Key": ref},
        )
        copy["state_ref"] = {"S": target}
    try:
        deployment.client("dynamodb").put_item(
            TableName=deployment.table,
            Item=copy,
            ConditionExpression="attribute_not_exists(pk) OR renamed_from = :old",
            ExpressionAttributeValues={":old": {"S": old}},
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            raise OperationError(
                f"{copy['pk']['S']} already exists: the name {new!r} was used"
            ) from None
        raise


def _delete(ddb: Any, s3: Any, bucket: str, table: str, items: list[dict[str, Any]]) -> None:
    for item in items:
        ddb.delete_item(TableName=table, Key={"pk": item["pk"]})
        ref = item.get("state_ref", {}).get("S")
        if ref is not None:
            s3.delete_object(Bucket=bucket, Key=ref)


def _items_of(items: Any, workspace: str) -> list[dict[str, Any]]:
    encoded = quote(workspace, safe="")
    exact = {plan_pk(workspace), control_pk(workspace), status_pk(workspace)}
    prefix = f"campaign#{encoded}#"
    return [i for i in items if i["pk"]["S"] in exact or i["pk"]["S"].startswith(prefix)]


def _renamed(item: dict[str, Any], old: str, new: str, was_paused: bool) -> dict[str, Any]:
    pk = item["pk"]["S"]
    kind, _, rest = pk.partition("#")
    _, _, campaign = rest.partition("#")
    new_pk = f"{kind}#{quote(new, safe='')}" + (f"#{campaign}" if kind == "campaign" else "")
    copy = {k: v for k, v in item.items() if k not in ("lease_owner", "lease_until")}
    copy["pk"] = {"S": new_pk}
    copy["renamed_from"] = {"S": old}
    if kind == "control":
        copy["paused"] = {"BOOL": was_paused}
    return copy


def _set_paused(ddb: Any, table: str, workspace: str, paused: bool) -> None:
    ddb.update_item(
        TableName=table,
        Key={"pk": {"S": control_pk(workspace)}},
        UpdateExpression="SET paused = :p",
        ExpressionAttributeValues={":p": {"BOOL": paused}},
    )
