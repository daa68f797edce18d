"""What `status` shows: each workspace and campaign as the checkpoint table holds them (plans,
checkpoints, control items, last runs, quota memory), read in one scan."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from leadlex_exporter.checkpoints import CheckpointStore, plan_from_item
from leadlex_exporter.control import Control, ControlStore
from leadlex_exporter.deployment import Deployment, scan
from leadlex_exporter.planner import WorkspacePlan
from leadlex_exporter.quota import QuotaState
from leadlex_exporter.settings import Settings


@dataclass
class CampaignView:
    campaign_id: str
    paused: bool = False
    last_poll: float | None = None
    lag_seconds: float | None = None
    next_due: float | None = None
    watermark: str | None = None
    history_from: str | None = None
    backfill: dict[str, Any] | None = None  # {from, to, events_left, calls_left}
    history_request: str | None = None
    pending: bool = False
    leased_until: float | None = None
    last_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "campaign_id": self.campaign_id,
            "paused": self.paused,
            "last_poll": iso(self.last_poll),
            "lag_seconds": None if self.lag_seconds is None else round(self.lag_seconds),
            "next_due": iso(self.next_due),
            "watermark": self.watermark,
            "history_from": self.history_from,
            "backfill": self.backfill,
            "history_request": self.history_request,
            "pending": self.pending,
            "leased_until": iso(self.leased_until),
            "last_error": self.last_error,
        }


@dataclass
class WorkspaceView:
    name: str
    paused: bool = False
    last_run: dict[str, Any] | None = None
    quota: dict[str, Any] | None = None
    campaigns: list[CampaignView] = field(default_factory=list)

    def backfill_calls_left(self) -> int:
        return sum((c.backfill or {}).get("calls_left") or 0 for c in self.campaigns)

    def as_dict(self) -> dict[str, Any]:
        calls = self.backfill_calls_left()
        per_day = history_calls_per_day((self.quota or {}).get("limit"))
        return {
            "workspace": self.name,
            "paused": self.paused,
            "last_run": self.last_run,
            "quota": self.quota,
            "backfill_calls_left": calls,
            "backfill_days_left": days_at(calls, per_day),
            "campaigns": [c.as_dict() for c in self.campaigns],
        }


def history_calls_per_day(limit: int | None, settings: Settings | None = None) -> int | None:
    """Calls a day a key's history loads can count on: HISTORY_SHARE_PERCENT of the limit, what
    they get while the fresh polls could use every other call (QuotaGuard.floor; more on a key
    whose campaigns are few for its quota), within what the reserve and the fresh share leave."""
    if not limit:
        return None
    reserve = settings.quota_reserve_percent if settings else 5
    fresh = settings.fresh_reserve_percent if settings else 20
    history = settings.history_share_percent if settings else 10
    most = limit - math.ceil(limit * reserve / 100) - math.ceil(limit * fresh / 100)
    return max(1, min(math.ceil(limit * history / 100), most))


def days_at(calls: int, per_day: int | None) -> float | None:
    if per_day is None:
        return None
    return round(calls / per_day, 1)


@dataclass
class _Table:
    """The checkpoint table's items, sorted by kind (one scan)."""

    names: set[str] = field(default_factory=set)
    plans: dict[str, WorkspacePlan] = field(default_factory=dict)
    quotas: dict[str, QuotaState] = field(default_factory=dict)
    campaigns: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    controlled: set[str] = field(default_factory=set)

    @classmethod
    def read(cls, deployment: Deployment, only: str | None) -> _Table:
        table = cls()
        for item in scan(deployment):
            kind, _, rest = item["pk"]["S"].partition("#")
            if kind == "quota":
                table.quotas[rest] = QuotaState(**json.loads(item["quota"]["S"]))
                continue
            if kind not in ("campaign", "plan", "control", "status"):
                continue
            encoded, _, campaign = rest.partition("#")
            name = unquote(encoded)
            if only is not None and name != only:
                continue
            table.names.add(name)
            if kind == "campaign":
                table.campaigns[(name, unquote(campaign))] = item
            elif kind == "plan":
                table.plans[name] = plan_from_item(item).plan
            elif kind == "control":
                table.controlled.add(name)
        return table


def read_status(deployment: Deployment, only: str | None, now: datetime) -> list[WorkspaceView]:
    """Every workspace the table knows (plans, checkpoints, controls, last runs)."""
    table = _Table.read(deployment, only)
    controls = ControlStore(deployment.client("dynamodb"), deployment.table)
    store = deployment.store()
    views = []
    for name in sorted(table.names):
        control = controls.load(name) if name in table.controlled else None
        run = controls.last_run(name)
        ws = WorkspaceView(name, paused=bool(control and control.workspace_paused), last_run=run)
        fingerprint = (run or {}).get("key_fingerprint")
        if fingerprint and fingerprint in table.quotas:
            q = table.quotas[fingerprint]
            ws.quota = {
                "limit": q.limit,
                "remaining": q.remaining,
                "reset_at": iso(q.reset_at),
                "exhausted": q.exhausted,
            }
        plan = table.plans.get(name, WorkspacePlan())
        ids = {*plan.campaigns, *(c for (w, c) in table.campaigns if w == name)}
        for campaign_id in sorted(ids):
            cv = _campaign_view(campaign_id, plan, control, run, now)
            checkpoint = table.campaigns.get((name, campaign_id))
            if checkpoint is not None:
                _checkpoint_view(cv, checkpoint, store, now)
            ws.campaigns.append(cv)
        views.append(ws)
    return views


def _campaign_view(
    campaign_id: str,
    plan: WorkspacePlan,
    control: Control | None,
    run: dict[str, Any] | None,
    now: datetime,
) -> CampaignView:
    """What the plan, the control item and the last run say of one campaign."""
    cv = CampaignView(campaign_id, paused=bool(control and control.paused(campaign_id)))
    entry = plan.campaigns.get(campaign_id)
    if entry is not None:
        cv.last_poll, cv.next_due = entry.polled_at, entry.due_at
        since = entry.watermark if entry.watermark is not None else entry.seen_at
        cv.lag_seconds = now.timestamp() - since
    if control and campaign_id in control.history_requests:
        cv.history_request = "{} to {}".format(*control.history_requests[campaign_id])
    cv.last_error = ((run or {}).get("failed_campaigns") or {}).get(campaign_id)
    return cv


def _checkpoint_view(
    cv: CampaignView, item: dict[str, Any], store: CheckpointStore, now: datetime
) -> None:
    cv.pending = "pending" in item
    until = item.get("lease_until", {}).get("N")
    if until is not None and int(until) / 1000 > now.timestamp():
        cv.leased_until = int(until) / 1000
    try:
        state = store.item_state(item)
    except Exception as exc:  # noqa: BLE001 - one unreadable checkpoint is shown, not fatal
        cv.last_error = cv.last_error or f"checkpoint not readable ({type(exc).__name__})"
        return
    cv.watermark, cv.history_from = state.watermark, state.history_from
    walk = state.backfill
    if walk is not None:
        progress = walk.progress()
        cv.backfill = {
            "from": walk.lo,
            "to": walk.hi,
            "events_left": progress[0] if progress else None,
            "calls_left": progress[1] if progress else None,
        }


def iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")
