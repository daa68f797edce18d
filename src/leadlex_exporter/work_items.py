"""Work items: one per API key, from the dispatcher to the worker through the work queue.

A body names the key by its fingerprint and lists the workspaces that share it; the key itself
never travels (the worker reads it from the secret again).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from leadlex_exporter.errors import ConfigurationError, DeliveryError
from leadlex_exporter.workspaces import Workspace

MAX_BATCH_ENTRIES = 10
SEND_ATTEMPTS = 3


@dataclass(frozen=True)
class WorkItem:
    fingerprint: str
    workspaces: tuple[str, ...]  # names, for logs; the worker takes the secret's current list
    dispatched_at: str
    target: dict[str, Any] | None = None  # an on-demand run (targets.py), as the payload gave it

    def body(self) -> str:
        body: dict[str, Any] = {
            "fingerprint": self.fingerprint,
            "workspaces": list(self.workspaces),
            "dispatched_at": self.dispatched_at,
        }
        if self.target is not None:
            body["target"] = self.target
        return json.dumps(body, separators=(",", ":"))

    @classmethod
    def from_body(cls, body: str) -> WorkItem:
        """A body the dispatcher wrote; anything else raises ConfigurationError."""
        try:
            data = json.loads(body)
            fingerprint, names = data["fingerprint"], data.get("workspaces", [])
        except (ValueError, TypeError, KeyError):
            raise ConfigurationError("a work item that is not a dispatcher's JSON body") from None
        if not isinstance(fingerprint, str) or not fingerprint.isalnum():
            raise ConfigurationError("a work item without a key fingerprint")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ConfigurationError("a work item whose workspaces are not a list of names")
        target = data.get("target")
        if target is not None and not isinstance(target, dict):
            raise ConfigurationError("a work item whose target is not an object")
        return cls(fingerprint, tuple(names), str(data.get("dispatched_at", "")), target)


def work_items(
    workspaces: list[Workspace], now: datetime, target: dict[str, Any] | None = None
) -> list[WorkItem]:
    """One item per key, in the secret's order of first appearance."""
    names: dict[str, list[str]] = {}
    for workspace in workspaces:
        names.setdefault(workspace.key_fingerprint, []).append(workspace.name)
    stamp = now.isoformat()
    return [WorkItem(fp, tuple(group), stamp, target) for fp, group in names.items()]


def send_work(sqs: Any, queue_url: str, items: list[WorkItem]) -> None:
    """SendMessageBatch, ten at a time; entries SQS reports as Failed are sent again, and what
    still fails raises DeliveryError (the dispatcher's invocation fails and is alarmed)."""
    for start in range(0, len(items), MAX_BATCH_ENTRIES):
        entries = {
            str(n): item.body() for n, item in enumerate(items[start : start + MAX_BATCH_ENTRIES])
        }
        for _ in range(SEND_ATTEMPTS):
            response = sqs.send_message_batch(
                QueueUrl=queue_url,
                Entries=[{"Id": n, "MessageBody": body} for n, body in entries.items()],
            )
            entries = {f["Id"]: entries[f["Id"]] for f in response.get("Failed", [])}
            if not entries:
                break
        if entries:
            raise DeliveryError(f"SQS rejected {len(entries)} work item(s) after the retries")
