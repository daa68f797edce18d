"""On-demand runs: what the dispatcher accepts besides the schedule's tick, checked once.

A payload with an `action` is a targeted run (events/sync-campaign.json and its siblings):

    {"action": "sync", "workspace": "acme", "campaigns": ["cmp_1"]}
    {"action": "backfill", "workspace": "acme", "from": "2026-01-01", "to": "2026-03-31"}
    {"action": "replay", "workspace": "acme", "campaigns": ["cmp_1"],
     "from": "2026-11-01", "to": "2026-11-03"}

- `sync` polls the named campaigns (every campaign the workspace knows, when none is named) now,
  whatever the planner had planned, within the quota's fresh share.
- `backfill` loads the history of [from, to] (whole UTC days) that the campaigns never read:
  their first sync started at BACKFILL_DAYS, and this goes further back. It runs on the
  backfill share of the quota, over as many runs and days as it needs.
- `replay` re-exports [from, to] (replay.py): records already in S3 are rewritten in place with
  the API's current values, missing ones are added; no id is ever in two records.

Anything else with an `action`, or a payload that is neither a tick nor a target, is a
ConfigurationError that names the problem. Other keys (EventBridge's `source`, `detail-type`...)
make a scheduled tick.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from leadlex_exporter.errors import ConfigurationError

ACTIONS = ("sync", "backfill", "replay")
MAX_CAMPAIGNS = 1_000
MAX_RANGE_DAYS = 366


@dataclass(frozen=True)
class Target:
    action: str
    workspace: str
    campaigns: tuple[str, ...] = ()  # empty: every campaign of the workspace
    start: date | None = None  # backfill and replay: whole UTC days, inclusive
    end: date | None = None

    @property
    def from_instant(self) -> datetime:
        assert self.start is not None  # noqa: S101 - parse() sets both for the range actions
        return datetime.combine(self.start, time(0), UTC)

    @property
    def to_instant(self) -> datetime:
        """The last second of `end` (from_date/to_date are inclusive at whole seconds)."""
        assert self.end is not None  # noqa: S101
        return datetime.combine(self.end + timedelta(days=1), time(0), UTC) - timedelta(seconds=1)

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"action": self.action, "workspace": self.workspace}
        if self.campaigns:
            body["campaigns"] = list(self.campaigns)
        if self.start is not None and self.end is not None:
            body["from"], body["to"] = self.start.isoformat(), self.end.isoformat()
        return body


def is_targeted(event: object) -> bool:
    return isinstance(event, dict) and "action" in event


def parse(event: dict[str, Any], today: date) -> Target:
    """A targeted payload, checked; every problem is named in one ConfigurationError."""
    problems: list[str] = []
    action = event.get("action")
    if action not in ACTIONS:
        problems.append(f"action must be one of {', '.join(ACTIONS)}, got {action!r}")
    workspace = event.get("workspace")
    if not isinstance(workspace, str) or not workspace.strip():
        problems.append("workspace must be a workspace name of the secret")
        workspace = ""
    campaigns = event.get("campaigns", [])
    if isinstance(campaigns, str):
        campaigns = [campaigns]
    if not isinstance(campaigns, list) or not all(
        isinstance(c, str) and c.strip() for c in campaigns
    ):
        problems.append("campaigns must be a list of campaign ids")
        campaigns = []
    elif len(campaigns) > MAX_CAMPAIGNS:
        problems.append(f"campaigns: at most {MAX_CAMPAIGNS} per request, got {len(campaigns)}")
    known = {"action", "workspace", "campaigns", "from", "to"}
    extra = sorted(set(event) - known)
    if extra:
        problems.append(f"unknown field(s): {', '.join(map(str, extra))}")
    start = end = None
    if action in ("backfill", "replay"):
        start, end = _day(event, "from", problems), _day(event, "to", problems)
        if start and end:
            if start > end:
                problems.append(f"from ({start}) is after to ({end})")
            elif (end - start).days >= MAX_RANGE_DAYS:
                problems.append(f"a range of at most {MAX_RANGE_DAYS} days, got {start} to {end}")
            if end > today:
                problems.append(f"to ({end}) is in the future (today is {today} UTC)")
    elif "from" in event or "to" in event:
        problems.append(f"from/to belong to backfill and replay, not {action}")
    if problems:
        raise ConfigurationError("invalid request: " + "; ".join(problems))
    return Target(
        action=str(action),
        workspace=str(workspace).strip(),
        campaigns=tuple(dict.fromkeys(c.strip() for c in campaigns)),
        start=start,
        end=end,
    )


def _day(event: dict[str, Any], name: str, problems: list[str]) -> date | None:
    value = event.get(name)
    if not isinstance(value, str):
        problems.append(f"{name} must be a date, YYYY-MM-DD (UTC)")
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        problems.append(f"{name} must be a date, YYYY-MM-DD (UTC), got {value!r}")
        return None
