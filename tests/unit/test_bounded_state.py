"""State that stays within DynamoDB's limits at any volume, and forgets nothing it needs.

The recent-id set holds every id inside the lookback window, however many: past what fits in
the checkpoint item, a campaign's state moves to an S3 object the item names. The tests shrink
that threshold (INLINE_STATE_BYTES) to reach the spilled path with a few hundred events; the
`slow` ones run the real sizes.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from leadlex_exporter import checkpoints
from tests.conftest import run_exporter
from tests.fakes import make_events

KEY = "wbk_" + "k" * 52


def _setup(stack, api, clock, counts: dict[str, int], spacing: float) -> None:
    api.keys[KEY] = "acme"
    api.campaigns["acme"] = [{"id": c, "status": "active"} for c in counts]
    for campaign, count in counts.items():
        # newest first from 30 s before the run, `spacing` apart
        api.events[campaign] = make_events(
            campaign, count, clock.now() - timedelta(seconds=30), spacing
        )
    stack.put_secret({"workspaces": [{"name": "acme", "api_key": KEY}]})


def _campaign_items(stack) -> list[dict]:
    return [i for i in stack.items() if i["pk"]["S"].startswith("campaign#")]


def test_every_id_inside_the_lookback_window_is_remembered_past_the_item_size(
    stack, api, clock, monkeypatch
):
    # 120 ids (1,920 bytes) do not fit 512 bytes: the state goes to S3
    monkeypatch.setattr(checkpoints, "INLINE_STATE_BYTES", 512)
    _setup(stack, api, clock, {"c1": 120, "c2": 3}, spacing=4)

    first = run_exporter(stack, clock, api, NOTIFY_EVENT_TYPES="")
    clock.advance(minutes=1)
    late = make_events("late", 2, clock.now() - timedelta(minutes=4), 1)
    api.events["c1"] += late
    second = run_exporter(stack, clock, api, NOTIFY_EVENT_TYPES="")
    clock.advance(minutes=1)
    third = run_exporter(stack, clock, api, NOTIFY_EVENT_TYPES="")

    ids = Counter(r["id"] for _, r in stack.records(prefix="events/"))
    expected = {e["id"] for c in ("c1", "c2") for e in api.events[c]}
    assert set(ids) == expected
    assert max(ids.values()) == 1, f"exported twice: {[i for i, n in ids.items() if n > 1]}"
    assert first["workspaces"][0]["events_exported"] == 123
    assert second["workspaces"][0]["events_exported"] == 2
    assert third["workspaces"][0]["events_exported"] == 0
    assert third["workspaces"][0]["duplicates_skipped"] >= 122
    items = {i["pk"]["S"]: i for i in _campaign_items(stack)}
    big = next(i for pk, i in items.items() if pk.endswith("#c1"))
    small = next(i for pk, i in items.items() if pk.endswith("#c2"))
    assert "state_ref" in big
    assert "recent" not in big
    assert "state_ref" not in small
    assert "recent" in small
    # only the current state object is kept
    refs = stack.s3_keys(checkpoints.STATE_PREFIX + "/")
    assert refs == [big["state_ref"]["S"]]


def test_a_walk_with_thousands_of_undated_records_keeps_its_item_small(
    stack, api, clock, monkeypatch
):
    """Records without a readable timestamp are remembered by id in the walk (unplaced_ids);
    a walk that spans several commits must not push the item past its limit."""
    monkeypatch.setattr(checkpoints, "INLINE_STATE_BYTES", 1_024)
    api.keys[KEY] = "acme"
    api.campaigns["acme"] = [{"id": "c1", "status": "active"}]
    events = make_events("c1", 50, clock.now() - timedelta(hours=2), 60)
    undated = [{"id": f"nodate{i}", "type": "opened", "timestamp": None} for i in range(400)]
    api.events["c1"] = events[:10] + undated + events[10:]
    stack.put_secret({"workspaces": [{"name": "acme", "api_key": KEY}]})

    result = run_exporter(stack, clock, api, NOTIFY_EVENT_TYPES="", BATCH_MAX_EVENTS="100")
    clock.advance(minutes=15)
    again = run_exporter(stack, clock, api, NOTIFY_EVENT_TYPES="", BATCH_MAX_EVENTS="100")

    workspace = result["workspaces"][0]
    assert workspace["status"] == "ok", workspace
    assert workspace["events_exported"] == 50
    assert workspace["events_quarantined"] == 400
    assert again["workspaces"][0]["events_quarantined"] == 0
    for item in _campaign_items(stack):
        assert item_size(item) < 1_024 + 1_000
    ids = Counter(r["id"] for _, r in stack.records(prefix="events/"))
    assert max(ids.values()) == 1


def item_size(item: dict) -> int:
    """DynamoDB's size of an item: attribute names plus values (UTF-8 strings, raw bytes,
    numbers as about their digits)."""
    total = 0
    for name, value in item.items():
        total += len(name.encode())
        ((kind, data),) = value.items()
        if kind == "S":
            total += len(data.encode())
        elif kind == "B":
            total += len(data)
        elif kind == "N":
            total += len(str(data)) // 2 + 1
        else:
            total += len(str(data))
    return total


def test_the_longest_lookback_remembers_a_whole_day_of_ids(stack, api, clock, monkeypatch):
    monkeypatch.setattr(checkpoints, "INLINE_STATE_BYTES", 2_048)
    _setup(stack, api, clock, {"c1": 300}, spacing=240)  # 20 hours of events

    run_exporter(stack, clock, api, NOTIFY_EVENT_TYPES="", LOOKBACK_MINUTES="1440")
    clock.advance(hours=1)
    again = run_exporter(stack, clock, api, NOTIFY_EVENT_TYPES="", LOOKBACK_MINUTES="1440")

    assert again["workspaces"][0]["events_exported"] == 0
    assert again["workspaces"][0]["duplicates_skipped"] == 300
    ids = Counter(r["id"] for _, r in stack.records(prefix="events/"))
    assert len(ids) == 300
    assert max(ids.values()) == 1


@pytest.mark.slow
def test_a_hundred_thousand_ids_inside_one_window_are_each_exported_once(stack, api, clock):
    _setup(stack, api, clock, {"big": 100_000}, spacing=0.8)  # 22 hours

    first = run_exporter(stack, clock, api, NOTIFY_EVENT_TYPES="", LOOKBACK_MINUTES="1440")
    clock.advance(minutes=15)
    second = run_exporter(stack, clock, api, NOTIFY_EVENT_TYPES="", LOOKBACK_MINUTES="1440")

    assert first["workspaces"][0]["status"] == "ok"
    assert second["workspaces"][0]["status"] == "ok"
    assert second["workspaces"][0]["events_exported"] == 0
    ids = Counter(r["id"] for _, r in stack.records(prefix="events/"))
    assert len(ids) == 100_000
    assert max(ids.values()) == 1
