"""The sandbox's state: workspaces, campaigns and their events, faults, quota and the call log.

Tests drive it in-process; the HTTP layer only reads it through the lookups at the bottom.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from leadlex_sandbox.bulk import bulk_entries
from leadlex_sandbox.calls import CallLog
from leadlex_sandbox.clock import Clock
from leadlex_sandbox.faults import FaultPlan
from leadlex_sandbox.models import READ_SCOPE, Campaign, Workspace, limits_for
from leadlex_sandbox.quota import QuotaBook
from leadlex_sandbox.records import entry_from_event
from leadlex_sandbox.timestamps import format_utc, to_micros

RequestListener = Callable[[str, dict[str, str], int], None]


class World:
    def __init__(self, clock: Clock | None = None, *, fault_seed: int = 0) -> None:
        self.clock = clock or Clock()
        self.lock = threading.RLock()
        self.faults = FaultPlan(fault_seed)
        self.quota = QuotaBook(self.clock)
        self.calls = CallLog()
        self._workspaces: dict[str, Workspace] = {}
        self._by_key: dict[str, Workspace] = {}
        self._campaigns: dict[str, Campaign] = {}
        self._listeners: list[RequestListener] = []

    def add_workspace(
        self,
        name: str,
        api_key: str,
        plan: str = "pro",
        scopes: Iterable[str] = (READ_SCOPE,),
        revoked: bool = False,
        daily_limit: int | None = None,
        per_minute_limit: int | None = None,
    ) -> Workspace:
        daily, per_minute = limits_for(plan, daily_limit, per_minute_limit)
        workspace = Workspace(name, api_key, plan, tuple(scopes), revoked, daily, per_minute)
        with self.lock:
            if name in self._workspaces or api_key in self._by_key:
                raise ValueError(f"workspace {name!r} or its key is already registered")
            self._workspaces[name] = workspace
            self._by_key[api_key] = workspace
        return workspace

    def add_campaign(
        self,
        workspace: str,
        campaign_id: str,
        name: str | None = None,
        status: str = "active",
        created_at: datetime | None = None,
    ) -> Campaign:
        created = format_utc(created_at or self.clock.now())
        with self.lock:
            if workspace not in self._workspaces:
                raise KeyError(f"unknown workspace {workspace!r}")
            if campaign_id in self._campaigns:
                raise ValueError(f"campaign {campaign_id!r} already exists")
            campaign = Campaign(campaign_id, workspace, name or campaign_id, status, created)
            self._campaigns[campaign_id] = campaign
        return campaign

    def add_events(
        self, campaign_id: str, events: Iterable[Any], visible_at: datetime | None = None
    ) -> int:
        """Store events as given; `visible_at` hides them until the sandbox clock reaches it."""
        inserted_at = to_micros(self.clock.now())
        visible = None if visible_at is None else to_micros(visible_at)
        with self.lock:
            store = self._campaign(campaign_id).events
            return store.add((entry_from_event(e, inserted_at) for e in events), visible)

    def bulk_events(
        self, campaign_id: str, n: int, start: datetime, end: datetime, seed: int = 0
    ) -> int:
        """Add `n` generated events spread evenly over [start, end], fast enough for 300k."""
        with self.lock:
            return self._campaign(campaign_id).events.add(bulk_entries(n, start, end, seed))

    def delete_campaign(self, campaign_id: str) -> None:
        with self.lock:
            self._campaign(campaign_id)
            del self._campaigns[campaign_id]

    def revoke_key(self, workspace: str) -> None:
        with self.lock:
            self._workspace(workspace).revoked = True

    def set_scopes(self, workspace: str, scopes: Iterable[str]) -> None:
        with self.lock:
            self._workspace(workspace).scopes = tuple(scopes)

    def on_request(self, callback: RequestListener) -> Callable[[], None]:
        """Call `callback(path, query, call_index)` before each API request; returns an undo."""
        with self.lock:
            self._listeners.append(callback)
        return lambda: self._listeners.remove(callback)

    def stats(self) -> dict[str, Any]:
        return self.calls.stats()

    def reset_stats(self) -> None:
        self.calls.reset()

    # Lookups used by the HTTP layer.

    def begin_request(self, path: str, query: dict[str, str]) -> int:
        index = self.calls.begin()
        for listener in list(self._listeners):
            listener(path, dict(query), index)
        return index

    def workspace_for_key(self, api_key: str | None) -> Workspace | None:
        with self.lock:
            return self._by_key.get(api_key) if api_key else None

    def campaigns_of(self, workspace: str) -> list[Campaign]:
        with self.lock:
            return [c for c in self._campaigns.values() if c.workspace == workspace]

    def visible_campaign(self, workspace: str, campaign_id: str) -> Campaign | None:
        """The workspace's campaign with every event due by now revealed, else None."""
        with self.lock:
            campaign = self._campaigns.get(campaign_id)
            if campaign is None or campaign.workspace != workspace:
                return None
            campaign.events.reveal(to_micros(self.clock.now()))
            return campaign

    def _campaign(self, campaign_id: str) -> Campaign:
        if campaign_id not in self._campaigns:
            raise KeyError(f"unknown campaign {campaign_id!r}")
        return self._campaigns[campaign_id]

    def _workspace(self, name: str) -> Workspace:
        if name not in self._workspaces:
            raise KeyError(f"unknown workspace {name!r}")
        return self._workspaces[name]
