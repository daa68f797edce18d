"""On-demand payloads (targets.py): the examples in events/ are valid, and each bad payload is
refused with an error that names its problem."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from leadlex_exporter.errors import ConfigurationError
from leadlex_exporter.targets import is_targeted, parse

EVENTS = Path(__file__).resolve().parents[2] / "events"
TODAY = date(2026, 12, 5)


@pytest.mark.parametrize(
    "name", ["sync-campaign.json", "backfill-workspace.json", "replay-campaign.json"]
)
def test_the_examples_in_events_are_valid_targets(name):
    payload = json.loads((EVENTS / name).read_text())
    assert is_targeted(payload)
    target = parse(payload, TODAY)
    assert target.action == payload["action"]
    assert target.workspace == "acme"
    assert target.to_json() == {k: v for k, v in payload.items()}


def test_the_schedules_tick_is_not_a_target():
    assert not is_targeted(json.loads((EVENTS / "scheduled-tick.json").read_text()))


def test_a_range_covers_whole_utc_days_inclusive():
    target = parse(
        {"action": "replay", "workspace": "w", "from": "2026-11-01", "to": "2026-11-03"}, TODAY
    )
    assert target.from_instant.isoformat() == "2026-11-01T00:00:00+00:00"
    assert target.to_instant.isoformat() == "2026-11-03T23:59:59+00:00"


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ({"action": "resync", "workspace": "w"}, "action must be one of sync, backfill, replay"),
        ({"action": "sync"}, "workspace must be a workspace name"),
        ({"action": "sync", "workspace": "w", "campaigns": [1]}, "campaigns must be a list"),
        ({"action": "sync", "workspace": "w", "campaign": "c"}, "unknown field(s): campaign"),
        ({"action": "backfill", "workspace": "w", "to": "2026-01-01"}, "from must be a date"),
        (
            {"action": "backfill", "workspace": "w", "from": "2026-1-1", "to": "2026-01-02"},
            "from must be a date, YYYY-MM-DD (UTC), got '2026-1-1'",
        ),
        (
            {"action": "replay", "workspace": "w", "from": "2026-02-01", "to": "2026-01-01"},
            "from (2026-02-01) is after to (2026-01-01)",
        ),
        (
            {"action": "replay", "workspace": "w", "from": "2026-12-01", "to": "2026-12-06"},
            "to (2026-12-06) is in the future",
        ),
        (
            {"action": "backfill", "workspace": "w", "from": "2024-01-01", "to": "2026-01-01"},
            "a range of at most 366 days",
        ),
        ({"action": "sync", "workspace": "w", "from": "2026-01-01"}, "from/to belong to"),
    ],
)
def test_a_bad_payload_is_refused_naming_the_problem(payload, problem):
    with pytest.raises(ConfigurationError) as caught:
        parse(payload, TODAY)
    assert problem in str(caught.value)
    assert str(caught.value).startswith("invalid request: ")


def test_every_problem_is_named_at_once():
    with pytest.raises(ConfigurationError) as caught:
        parse({"action": "x", "campaigns": "c", "extra": 1}, TODAY)
    text = str(caught.value)
    assert "action must be" in text
    assert "workspace must be" in text
    assert "unknown field(s): extra" in text
