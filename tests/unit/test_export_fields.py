"""Every record says when and by which run it was exported (`exported_at`, `export_run`), so
an incremental job finds late events in old date partitions; a crashed group's records keep
the values it was written with, and its re-sent notifications are the ones first sent."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import Stack, run_exporter
from tests.fakes import FakeClock, FakeLeadLex, make_events
from tests.unit.test_commit_groups import Killed, disarm, given, kill_at, pending_of

EXPORTED_AT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def at(clock: FakeClock) -> str:
    return clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")


def bodies(stack: Stack) -> dict[str, set[str]]:
    """Every message body on the queue, by event id."""
    out: defaultdict[str, set[str]] = defaultdict(set)
    for message in stack.messages():
        out[message["MessageAttributes"]["event_id"]["StringValue"]].add(message["Body"])
    return dict(out)


def test_a_late_event_in_yesterdays_partition_carries_the_later_run(stack, api, clock):
    # Given: just after midnight, a run exports yesterday's last events.
    clock.current = datetime(2026, 11, 21, 0, 4, tzinfo=UTC)
    given(stack, api, clock, {"cmp_a": 30, "cmp_b": 12})
    first = run_exporter(stack, clock, api)
    assert first["status"] == "ok", first
    first_at = at(clock)
    # An event of 23:58 yesterday shows up 8 minutes late (after the first run).
    late = make_events("late", 1, datetime(2026, 11, 20, 23, 58, tzinfo=UTC))[0]
    api.events["cmp_a"].append(late)
    api.visible_at[late["id"]] = clock.now() + timedelta(minutes=2)
    clock.advance(minutes=20)

    # When
    second = run_exporter(stack, clock, api)

    # Then: it lands in yesterday's partition, stamped with the second run and its time.
    assert second["status"] == "ok", second
    records = stack.records()
    assert Counter(r["id"] for _, r in records).most_common(1)[0][1] == 1
    ((key, record),) = [(k, r) for k, r in records if r["id"] == late["id"]]
    assert "/event_date=2026-11-20/" in key
    assert (record["exported_at"], record["export_run"]) == (at(clock), *second["run_ids"])
    assert all(second["run_ids"][0] in k for k, r in records if r["id"] == late["id"])
    others = [r for _, r in records if r["id"] != late["id"]]
    assert len(others) == 42
    assert {(r["exported_at"], r["export_run"]) for r in others} == {(first_at, *first["run_ids"])}
    assert all(EXPORTED_AT.fullmatch(r["exported_at"]) for _, r in records)
    # The fields follow the event's own, after workspace and campaign_id.
    assert list(record)[-4:] == ["workspace", "campaign_id", "exported_at", "export_run"]
    assert {k: v for k, v in record.items() if k in late} == late


def test_records_of_one_object_share_the_time_their_group_formed(stack, api, clock):
    # Groups of at least 100 events (BATCH_MAX_EVENTS' floor): several per run, each formed
    # later than the last on a clock that moves with every call.
    ticking = TickingClock(clock.current, step=timedelta(milliseconds=50))
    api.clock = ticking
    given(stack, api, ticking, {f"cmp_{i}": 150 for i in range(4)})

    result = run_exporter(stack, ticking, api, BATCH_MAX_EVENTS="100")

    assert result["status"] == "ok", result
    per_key: defaultdict[str, set[tuple[str, str]]] = defaultdict(set)
    for key, record in stack.records():
        per_key[key].add((record["exported_at"], record["export_run"]))
    assert all(len(values) == 1 for values in per_key.values()), "one time per object"
    # Objects are named part-<run>-<group>: the time rises with the group.
    by_group = {k.rsplit("-", 1)[1]: next(iter(v))[0] for k, v in per_key.items()}
    times = [by_group[g] for g in sorted(by_group)]
    assert len(set(times)) >= 3, times
    assert times == sorted(times)
    assert {v[1] for values in per_key.values() for v in values} == set(result["run_ids"])


class TickingClock(FakeClock):
    def __init__(self, start: datetime, step: timedelta):
        super().__init__(start)
        self.step = step

    def now(self) -> datetime:
        self.current += self.step
        return self.current


def test_quarantined_records_carry_them_beside_the_raw_record(stack, api, clock):
    given(stack, api, clock, {"cmp_a": 3})
    api.events["cmp_a"].append({"type": "clicked", "timestamp": "2026-11-20T11:00:00Z"})

    result = run_exporter(stack, clock, api)

    assert result["status"] == "ok", result
    ((_, quarantined),) = stack.records("quarantine/")
    assert quarantined["raw"] == {"type": "clicked", "timestamp": "2026-11-20T11:00:00Z"}
    assert (quarantined["exported_at"], quarantined["export_run"]) == (
        at(clock),
        *result["run_ids"],
    )


@pytest.mark.parametrize("own", [False, True], ids=["plain events", "events with own fields"])
def test_a_recovered_group_keeps_its_fields_and_resends_the_same_notifications(
    stack: Stack, api: FakeLeadLex, clock: FakeClock, own: bool
) -> None:
    given(stack, api, clock, {"cmp_a": 120, "cmp_b": 60})
    if own:  # the API's own fields of these names are kept, unchanged
        for event in api.events["cmp_b"]:
            event.update(exported_at="2020-01-01T00:00:00Z", export_run=7)
    # Killed when only the group's commit is missing: the objects and notifications are out.
    hook = kill_at(stack, "TransactWriteItems", 1, after="PutObject")
    with pytest.raises(Killed):
        run_exporter(stack, clock, api, seconds=120)
    disarm(stack, hook)
    (manifest,) = [p["group"] for p in pending_of(stack).values() if "keys" in p["group"]]
    sent_first = bodies(stack)
    assert sent_first
    clock.advance(seconds=121)

    result = run_exporter(stack, clock, api)

    assert result["status"] == "ok", result
    assert not pending_of(stack)
    records = {r["id"]: r for _, r in stack.records()}
    assert len(records) == 180
    for campaign in ("cmp_a", "cmp_b"):
        for event in api.events[campaign]:
            record = records[event["id"]]
            assert {k: record[k] for k in event} == event, "every field of the API unchanged"
            if not (own and campaign == "cmp_b"):
                assert record["exported_at"] == manifest["exported_at"] == "2026-11-20T12:00:00Z"
                assert record["export_run"] == manifest["export_run"]
    # Recovery sent every notification again, byte for byte the first one: the exporter's
    # fields stripped, the event's own kept.
    resent = bodies(stack)
    assert set(resent) == set(sent_first)
    for event_id, first in sent_first.items():
        assert resent[event_id] == first, event_id
        event = json.loads(next(iter(first)))["event"]
        assert ("exported_at" in event) == (own and "cmp_b" in event_id)
