"""What a run reports: per workspace, and as a whole (returned by the handler, logged)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from leadlex_exporter.context import CampaignStats
from leadlex_exporter.workspaces import InvalidEntry


@dataclass
class WorkspaceResult:
    name: str
    status: str = "ok"  # ok | failed | quota_wait | stopped | paused
    error: str | None = None
    campaigns: int = 0
    failed_campaigns: dict[str, str] = field(default_factory=dict)
    busy_campaigns: list[str] = field(default_factory=list)
    # stopped for this run (not failed): their pages shared a group with a failed campaign's
    interrupted_campaigns: list[str] = field(default_factory=list)
    backfilling: int = 0
    stats: CampaignStats = field(default_factory=CampaignStats)
    api_calls: int = 0
    quota_remaining: int | None = None
    quota_limited: bool = False
    api_clock_skew: float | None = None  # seconds the API's clock is ahead of ours
    polled_campaigns: int = 0  # campaigns the planner chose to poll this run
    deferred_campaigns: list[str] = field(default_factory=list)  # known, not polled this run
    campaign_list_refreshed: bool = False
    backfill_waiting: bool = False  # the backfill share of the quota is spent for today
    max_lag_seconds: float | None = None  # the worst campaign: now minus its last window end
    next_due_at: float | None = None  # Unix seconds: the next campaign due
    paused_campaigns: list[str] = field(default_factory=list)
    requests: dict[str, str] = field(default_factory=dict)  # history requests: what happened
    history_met: list[str] = field(default_factory=list)  # requests with nothing left to queue
    replays: dict[str, dict[str, Any]] = field(default_factory=dict)  # replay.ReplayResult's

    def add(self, stats: CampaignStats) -> None:
        for name in (
            "exported",
            "notified",
            "quarantined",
            "duplicates_skipped",
            "pages",
            "commits",
            "recovered",
        ):
            setattr(self.stats, name, getattr(self.stats, name) + getattr(stats, name))


@dataclass
class RunSummary:
    run_id: str
    workspaces: list[WorkspaceResult] = field(default_factory=list)
    invalid_entries: list[InvalidEntry] = field(default_factory=list)
    stopped_early: str | None = None  # "time" when the deadline stopped the run

    @property
    def ok(self) -> bool:
        return not self.invalid_entries and all(
            w.status in ("ok", "quota_wait", "stopped", "paused") and not w.failed_campaigns
            for w in self.workspaces
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": "ok" if self.ok else "partial_failure",
            "run_id": self.run_id,
            "stopped_early": self.stopped_early
            or ("quota" if any(w.quota_limited for w in self.workspaces) else None),
            "invalid_entries": [
                {"entry": e.label, "problem": e.problem} for e in self.invalid_entries
            ],
            "workspaces": [
                {
                    "workspace": w.name,
                    "status": w.status,
                    "error": w.error,
                    "campaigns": w.campaigns,
                    "failed_campaigns": w.failed_campaigns,
                    "busy_campaigns": w.busy_campaigns,
                    "interrupted_campaigns": w.interrupted_campaigns,
                    "backfilling": w.backfilling,
                    "events_exported": w.stats.exported,
                    "events_notified": w.stats.notified,
                    "events_quarantined": w.stats.quarantined,
                    "duplicates_skipped": w.stats.duplicates_skipped,
                    "api_calls": w.api_calls,
                    "quota_remaining": w.quota_remaining,
                    "quota_limited": w.quota_limited,
                    "commits_recovered": w.stats.recovered,
                    "api_clock_skew_seconds": (
                        None if w.api_clock_skew is None else round(w.api_clock_skew)
                    ),
                    "polled_campaigns": w.polled_campaigns,
                    "deferred_campaigns": w.deferred_campaigns,
                    "campaign_list_refreshed": w.campaign_list_refreshed,
                    "backfill_waiting": w.backfill_waiting,
                    "max_lag_seconds": (
                        None if w.max_lag_seconds is None else round(w.max_lag_seconds)
                    ),
                    "next_due_at": _iso(w.next_due_at),
                    "paused_campaigns": w.paused_campaigns,
                    "history_requests": w.requests,
                    **({"replays": w.replays} if w.replays else {}),
                }
                for w in self.workspaces
            ],
        }


def _iso(seconds: float | None) -> str | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC).isoformat()
