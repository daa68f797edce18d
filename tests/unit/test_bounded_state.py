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
@pytest.mark.timeout(2400)  # 100,000 events through in-process moto: several minutes
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


def test_the_largest_checkpoint_item_the_code_can_write_fits_dynamodb():
    """The leader of a full group: the longest workspace name (128 characters that each take
    12 once percent-encoded), UUID campaign ids, as many members as the manifest bound lets
    in, the open-object bound plus one page of new dates, and a state at the inline limit."""
    import json
    import uuid

    from leadlex_exporter.checkpoints import MemberCommit, campaign_pk
    from leadlex_exporter.group import MAX_MANIFEST_BYTES, MAX_MEMBERS, MAX_OPEN_OBJECTS
    from leadlex_exporter.leadlex import PER_PAGE
    from leadlex_exporter.protocol import pending_value
    from leadlex_exporter.sink_s3 import event_object_key, quarantine_object_key
    from leadlex_exporter.state import RecentIds
    from tests.fakes import FakeClock

    workspace = "\U0001f600" * 128  # 4 UTF-8 bytes each: %F0%9F%98%80
    group_id = "0123456789ab-00001"
    pks = [campaign_pk(workspace, str(uuid.uuid4())) for _ in range(MAX_MEMBERS)]
    key_length = len(event_object_key("events", "2026-01-01", workspace, group_id))
    members: list[str] = []
    for pk in pks:  # what CommitGroup.admit lets join: the manifest bound, then MAX_MEMBERS
        manifest = sum(len(p) + 32 for p in members) + (MAX_OPEN_OBJECTS + 1) * (key_length + 4)
        if manifest + len(pk) + 32 > MAX_MANIFEST_BYTES:
            break
        members.append(pk)
    dates = [f"2026-{1 + d // 28:02d}-{1 + d % 28:02d}" for d in range(MAX_OPEN_OBJECTS + PER_PAGE)]
    keys = [event_object_key("events", d, workspace, group_id) for d in dates]
    keys.append(quarantine_object_key("quarantine", workspace, group_id))
    clock = FakeClock()
    recent = RecentIds(
        {bytes(8 - len(str(i))) + str(i).encode(): 1_700_000_000 for i in range(370)}
    )
    state = json.dumps({"watermark": "2026-01-01T00:00:00Z", "pad": "x" * 6_000})
    commit = MemberCommit(pk=members[0], seq=123_456, state=state, recent=recent)
    assert commit.inline, "the largest state that stays in the item"
    manifest = {
        "id": group_id,
        "keys": keys,
        "solo": False,
        "members": [[pk, 123_456] for pk in members],
        "exported_at": "2026-01-01T00:00:00Z",
        "export_run": "0123456789ab",
    }
    pending = pending_value(manifest, commit, clock.now(), clock.now())
    item = {
        "pk": {"S": members[0]},
        "seq": {"N": "123456"},
        "state": {"S": state},
        "recent": {"B": recent.to_bytes()},
        "updated_at": {"S": clock.now().isoformat()},
        "lease_owner": {"S": "0123456789ab"},
        "lease_until": {"N": "1790000000000"},
        "pending": {"S": pending},
        "pending_group": {"S": group_id},
    }

    size = item_size(item)
    assert size < 400 * 1024, size
    assert len(members) >= 20, "the bound should still let a sensible group form"
