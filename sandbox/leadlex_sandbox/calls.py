"""The record of API calls the sandbox served, for tests and the demo to assert call budgets."""

from __future__ import annotations

import threading
from typing import Any


class CallLog:
    def __init__(self) -> None:
        self._calls: list[dict[str, Any]] = []
        self._started = 0
        self._lock = threading.Lock()

    def begin(self) -> int:
        """A 0-based index for the next API request (reset by `reset`)."""
        with self._lock:
            index = self._started
            self._started += 1
            return index

    def record(
        self,
        workspace: str | None,
        path: str,
        query: dict[str, str],
        status: int | None,
        fault: str | None,
    ) -> None:
        """`status` None means the connection was dropped without an answer."""
        call = {"workspace": workspace, "path": path, "query": dict(query), "status": status}
        if fault is not None:
            call["fault"] = fault
        with self._lock:
            self._calls.append(call)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            calls = [dict(call, query=dict(call["query"])) for call in self._calls]
        by_workspace: dict[str, dict[str, int]] = {}
        for call in calls:
            if call["workspace"] is None:
                continue
            counts = by_workspace.setdefault(
                call["workspace"], {"total": 0, "events": 0, "campaigns": 0}
            )
            counts["total"] += 1
            endpoint = _endpoint_of(call["path"])
            if endpoint is not None:
                counts[endpoint] += 1
        return {"calls": calls, "by_workspace": by_workspace}

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()
            self._started = 0


def _endpoint_of(path: str) -> str | None:
    if not path.startswith("/v1/campaigns"):
        return None
    return "events" if path.rstrip("/").endswith("/events") else "campaigns"
