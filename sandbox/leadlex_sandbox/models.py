"""The sandbox's nouns: workspaces (keys, scopes, limits) and campaigns (with their events)."""

from __future__ import annotations

from dataclasses import dataclass, field

from leadlex_sandbox.store import CampaignEvents

# Plan -> (calls per day, calls per minute), from the LeadLex authentication page.
PLAN_LIMITS = {"starter": (100, 10), "pro": (1000, 50), "org": (10000, 200)}
CAMPAIGN_STATUSES = ("draft", "active", "paused", "completed", "pending_approval")
EVENT_TYPES = (
    "sent",
    "delivered",
    "opened",
    "clicked",
    "replied",
    "bounced",
    "unsubscribed",
    "complained",
)
READ_SCOPE = "campaigns:read"


@dataclass
class Workspace:
    name: str
    api_key: str
    plan: str
    scopes: tuple[str, ...]
    revoked: bool
    daily_limit: int
    per_minute_limit: int

    @property
    def can_read_campaigns(self) -> bool:
        return READ_SCOPE in self.scopes


@dataclass
class Campaign:
    id: str
    workspace: str
    name: str
    status: str
    created_at: str
    events: CampaignEvents = field(default_factory=CampaignEvents, repr=False)

    def summary(self) -> dict[str, str]:
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "created_at": self.created_at,
        }


def limits_for(plan: str, daily: int | None, per_minute: int | None) -> tuple[int, int]:
    if plan not in PLAN_LIMITS:
        raise ValueError(f"unknown plan {plan!r}; expected one of {sorted(PLAN_LIMITS)}")
    plan_daily, plan_minute = PLAN_LIMITS[plan]
    return (
        plan_daily if daily is None else daily,
        plan_minute if per_minute is None else per_minute,
    )
