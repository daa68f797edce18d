"""Given an exported workspace, when a campaign's range is replayed, then every id is still in
exactly one S3 record, with the API's current values, and nothing else changed."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from datetime import date, timedelta
from typing import Any

import boto3
import pytest

from leadlex_exporter.errors import ReplayBusyError, ReplayRefusedError
from leadlex_exporter.leadlex import LeadLexClient
from leadlex_exporter.quota import QuotaGuard, QuotaState
from leadlex_exporter.replay import ReplayResult, replay
from leadlex_exporter.runtime import new_run
from leadlex_exporter.settings import Settings
from leadlex_exporter.timestamps import format_timestamp, parse_timestamp
from tests.conftest import BUCKET, REGION, Stack, run_exporter
from tests.fakes import FakeClock, FakeLeadLex, make_events

# many runs each (make test runs them; make check leaves them out)
pytestmark = pytest.mark.thorough

KEY = "wbk_" + "r" * 52
DAY = timedelta(days=1)


def given_export(stack: Stack, api: FakeLeadLex, clock: FakeClock, **env: str) -> None:
    """cmp_a: 150 events over three days; cmp_b: 40 events of the last hour; exported."""
    api.keys[KEY] = "acme"
    api.campaigns["acme"] = [
        {"id": "cmp_a", "status": "active"},
        {"id": "cmp_b", "status": "active"},
    ]
    api.events["cmp_a"] = make_events(
        "cmp_a", 150, clock.now() - timedelta(minutes=6), spacing_seconds=1700
    )
    api.events["cmp_b"] = make_events("cmp_b", 40, clock.now() - timedelta(minutes=6))
    stack.put_secret({"workspaces": [{"name": "acme", "api_key": KEY}]})
    assert run_exporter(stack, clock, api, **env)["status"] == "ok"
    api.calls.clear()
    clock.advance(minutes=5)


def replay_now(
    stack: Stack,
    clock: FakeClock,
    api: FakeLeadLex,
    start: date,
    end: date,
    campaign: str = "cmp_a",
    seconds: float = 900,
    dry_run: bool = False,
) -> ReplayResult:
    settings = Settings.from_env(stack.env())
    run = new_run(settings, clock, clock.now() + timedelta(seconds=seconds), stack.session)
    guard = QuotaGuard(
        QuotaState(),
        clock,
        reserve_percent=settings.quota_reserve_percent,
        fresh_reserve_percent=settings.fresh_reserve_percent,
        max_calls_per_minute=settings.max_calls_per_minute,
    )
    client = LeadLexClient(api.client(KEY), guard, run.deadline)
    return replay(run, client, "acme", campaign, start, end, dry_run=dry_run)


def change_api_values(api: FakeLeadLex, campaign: str = "cmp_a") -> None:
    for event in api.events[campaign]:
        event["email"] = "new-" + event["email"]
        event["metadata"] = {"changed": True}


def by_id(stack: Stack) -> dict[str, tuple[str, dict[str, Any]]]:
    rows = stack.records()
    counts = Counter(r["id"] for _, r in rows)
    assert max(counts.values()) == 1, [i for i, n in counts.items() if n > 1]
    return {r["id"]: (key, r) for key, r in rows}


def api_fields(record: dict[str, Any], original: dict[str, Any]) -> dict[str, Any]:
    return {k: record[k] for k in original}


def event_calls(api: FakeLeadLex) -> list[dict[str, str]]:
    return [query for path, query in api.calls if path.endswith("/events")]


def test_replay_refreshes_changed_values_in_place_and_keeps_other_campaigns(stack, api, clock):
    given_export(stack, api, clock)
    before = by_id(stack)
    change_api_values(api)
    today = clock.now().date()

    result = replay_now(stack, clock, api, today - 5 * DAY, today)

    after = by_id(stack)
    assert set(after) == set(before)  # no id added, none lost
    cap = parse_timestamp(result.replayed_until)
    assert cap is not None
    replayed = 0
    for event in api.events["cmp_a"]:
        key, record = after[event["id"]]
        assert key == before[event["id"]][0], "an id moved between objects"
        if parse_timestamp(event["timestamp"]) <= cap:
            replayed += 1
            assert api_fields(record, event) == event
            assert record["workspace"] == "acme"
            assert record["campaign_id"] == "cmp_a"
            assert record["export_run"] == result.export_run
            assert record["exported_at"] == format_timestamp(clock.now())
        else:
            assert record == before[event["id"]][1]  # newer than the cap: untouched
    for event in api.events["cmp_b"]:
        assert after[event["id"]] == before[event["id"]], "another campaign's record changed"
    assert replayed > 100
    assert result.records_rewritten == replayed
    assert result.events_fetched == replayed
    assert result.records_added == 0
    assert result.objects_added == 0
    assert result.objects_rewritten == len({before[e["id"]][0] for e in api.events["cmp_a"]})
    assert result.api_calls == len(event_calls(api)) == -(-replayed // 100)
    assert result.stopped_early is None


def test_replay_restores_a_deleted_object_once_even_when_run_twice(stack, api, clock):
    given_export(stack, api, clock)
    before = by_id(stack)
    # the object of the day before yesterday: it holds cmp_a's records of that date only
    day = clock.now().date() - 2 * DAY
    [lost_key] = {k for k, r in before.values() if r["timestamp"].startswith(day.isoformat())}
    lost = {i for i, (k, _) in before.items() if k == lost_key}
    stack.session.client("s3").delete_object(Bucket=BUCKET, Key=lost_key)

    first = replay_now(stack, clock, api, day, day)
    again = replay_now(stack, clock, api, day, day)

    after = by_id(stack)  # exactly once each
    assert set(after) == set(before)
    events = {e["id"]: e for e in api.events["cmp_a"]}
    for event_id in lost:
        key, record = after[event_id]
        assert "/part-replay-" in key
        assert f"event_date={day.isoformat()}/" in key
        assert api_fields(record, events[event_id]) == events[event_id]
        assert record["campaign_id"] == "cmp_a"
        assert record["workspace"] == "acme"
    assert (first.records_added, first.objects_added) == (len(lost), 1)
    assert (again.records_added, again.objects_added) == (0, 0)
    assert again.records_rewritten == len(lost)  # found where the first replay put them


def test_a_record_missing_from_an_object_comes_back_and_the_rest_stays(stack, api, clock):
    given_export(stack, api, clock)  # one commit group: today's object holds both campaigns
    before = by_id(stack)
    today = clock.now().date()
    # Drop one cmp_a record (below the cap) from an object that holds cmp_b's records too.
    old = format_timestamp(clock.now() - timedelta(hours=1))
    dropped, key = next(
        (i, k)
        for i, (k, r) in before.items()
        if r["campaign_id"] == "cmp_a"
        and r["timestamp"] < old
        and any(r2["campaign_id"] == "cmp_b" for k2, r2 in before.values() if k2 == k)
    )
    s3 = stack.session.client("s3")
    lines = gzip.decompress(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()).splitlines()
    kept = [x for x in lines if json.loads(x)["id"] != dropped]
    s3.put_object(Bucket=BUCKET, Key=key, Body=gzip.compress(b"\n".join(kept) + b"\n"))

    result = replay_now(stack, clock, api, today - 3 * DAY, today)

    after = by_id(stack)
    assert set(after) == set(before)
    assert "/part-replay-" in after[dropped][0]
    assert result.records_added == 1
    for event_id, (key_before, record) in before.items():
        if event_id != dropped:
            assert after[event_id][0] == key_before
        if record["campaign_id"] == "cmp_b":
            assert after[event_id][1] == record


def test_the_range_is_capped_at_the_watermark_minus_the_lookback(stack, api, clock):
    given_export(stack, api, clock)
    watermark = clock.now() - timedelta(minutes=5)  # the export's window end
    change_api_values(api)
    today = clock.now().date()

    result = replay_now(stack, clock, api, today, today + 3 * DAY)

    # lookback (10 min) + the skew allowance (10 min) before the watermark, a second below
    cap = watermark - timedelta(minutes=20, seconds=1)
    assert result.replayed_until == format_timestamp(cap)
    assert result.replayed == (today.isoformat(), today.isoformat())
    assert result.requested == (today.isoformat(), (today + 3 * DAY).isoformat())
    assert {q["to_date"] for q in event_calls(api)} == {format_timestamp(cap)}
    after = by_id(stack)
    events = api.events["cmp_a"] + api.events["cmp_b"]
    newer = [e for e in events if parse_timestamp(e["timestamp"]) > cap]
    assert newer, "the data must have events above the cap"
    for event in api.events["cmp_a"]:
        record = after[event["id"]][1]
        instant = parse_timestamp(event["timestamp"])
        if instant.date() == today:
            changed = record["email"] == event["email"]
            assert changed == (instant <= cap), event["timestamp"]


def test_a_range_wholly_above_the_cap_makes_no_call(stack, api, clock):
    given_export(stack, api, clock)
    tomorrow = clock.now().date() + DAY

    result = replay_now(stack, clock, api, tomorrow, tomorrow)

    assert result.replayed is None
    assert api.calls == []


def _set_state(stack: Stack, clock: FakeClock, state: str, **extra: dict[str, Any]) -> None:
    item = {"pk": {"S": "campaign#acme#cmp_a"}, "seq": {"N": "1"}, "state": {"S": state}}
    item.update(extra)
    stack.session.client("dynamodb").put_item(TableName="leadlex-checkpoints-test", Item=item)


@pytest.mark.parametrize(
    ("case", "error", "words"),
    [
        ("backfill", ReplayRefusedError, "still in its first sync"),
        ("never synced", ReplayRefusedError, "not been exported yet"),
        ("pending", ReplayBusyError, "pending"),
        ("leased", ReplayBusyError, "try later"),
    ],
)
@pytest.mark.parametrize("dry_run", [False, True])
def test_replay_refuses_a_campaign_it_cannot_replay_safely(
    stack, api, clock, case, error, words, dry_run
):
    given_export(stack, api, clock)
    objects = sorted(stack.records(), key=json.dumps)
    watermark = format_timestamp(clock.now())
    walk = {"kind": "backfill", "lo": None, "hi": watermark, "next_page": 3}
    until = str(int((clock.now() + timedelta(minutes=10)).timestamp() * 1000))
    if case == "backfill":
        _set_state(stack, clock, json.dumps({"watermark": watermark, "backfill": walk}))
    elif case == "never synced":
        stack.session.client("dynamodb").delete_item(
            TableName="leadlex-checkpoints-test", Key={"pk": {"S": "campaign#acme#cmp_a"}}
        )
    elif case == "pending":
        _set_state(
            stack,
            clock,
            json.dumps({"watermark": watermark}),
            pending={"S": json.dumps({"group": "g", "leader": "campaign#acme#cmp_b"})},
            pending_group={"S": "g"},
        )
    else:
        _set_state(
            stack,
            clock,
            json.dumps({"watermark": watermark}),
            lease_owner={"S": "another-run"},
            lease_until={"N": until},
        )
    today = clock.now().date()

    with pytest.raises(error, match=words):
        replay_now(stack, clock, api, today - 3 * DAY, today, dry_run=dry_run)

    assert api.calls == []
    assert sorted(stack.records(), key=json.dumps) == objects
    item = (
        stack.session.client("dynamodb")
        .get_item(TableName="leadlex-checkpoints-test", Key={"pk": {"S": "campaign#acme#cmp_a"}})
        .get("Item", {})
    )
    if case == "leased":
        assert item["lease_owner"]["S"] == "another-run"
    else:
        assert "lease_owner" not in item  # taken for the check and let go, or never taken


def test_dry_run_makes_no_call_and_no_write_and_estimates_the_calls(stack, api, clock):
    given_export(stack, api, clock)
    change_api_values(api)
    before = by_id(stack)
    calls: list[str] = []
    stack.session.events.register(
        "before-call.*.*", lambda event_name, **_: calls.append(event_name)
    )
    today = clock.now().date()

    result = replay_now(stack, clock, api, today - 5 * DAY, today, dry_run=True)

    assert api.calls == []
    reads = {"GetObject", "ListObjectsV2", "GetItem"}
    assert {c.rsplit(".", 1)[1] for c in calls} <= reads, calls
    assert by_id(stack) == before
    cap = parse_timestamp(result.replayed_until)
    in_range = [e for e in api.events["cmp_a"] if parse_timestamp(e["timestamp"]) <= cap]
    assert result.records_in_s3 == len(in_range)
    assert result.api_calls_estimated == -(-len(in_range) // 100) == 2
    assert (result.api_calls, result.records_rewritten, result.records_added) == (0, 0, 0)
    # The estimate is what the replay then spends.
    assert replay_now(stack, clock, api, today - 5 * DAY, today).api_calls == 2


def test_a_replay_out_of_quota_stops_cleanly_and_reports_the_dates_it_did(stack, api, clock):
    given_export(stack, api, clock)
    change_api_values(api)
    before = by_id(stack)
    today = clock.now().date()
    api.daily_limit = api.used + 1  # one more call today: the first page only

    result = replay_now(stack, clock, api, today - 5 * DAY, today)

    assert result.stopped_early == "quota"
    assert result.api_calls >= 1
    after = by_id(stack)
    assert set(after) == set(before)
    assert result.replayed is not None
    first = date.fromisoformat(result.replayed[0])
    assert result.remaining == (str(today - 5 * DAY), str(first - DAY))
    for event in api.events["cmp_a"]:
        refreshed = after[event["id"]][1]["email"] == event["email"]
        instant = parse_timestamp(event["timestamp"])
        if instant.date() < first:
            assert not refreshed, "a date the replay did not finish was rewritten"
        elif instant <= parse_timestamp(result.replayed_until):
            assert refreshed


def test_a_replay_past_max_events_stops_at_a_date_and_the_rest_follows(
    stack, api, clock, monkeypatch
):
    from leadlex_exporter import replay as module

    monkeypatch.setattr(module, "MAX_EVENTS", 50)
    given_export(stack, api, clock)
    change_api_values(api)
    before = by_id(stack)
    today = clock.now().date()
    start, end = today - 5 * DAY, today
    results = []
    while True:
        results.append(replay_now(stack, clock, api, start, end))
        if results[-1].remaining is None:
            break
        start, end = (date.fromisoformat(d) for d in results[-1].remaining)
        assert len(results) < 10, "the replay does not move"

    assert results[0].stopped_early == "size"
    assert results[0].events_fetched >= 50
    assert len(results) > 1
    after = by_id(stack)
    assert set(after) == set(before)
    cap = parse_timestamp(results[0].replayed_until)
    for event in api.events["cmp_a"]:
        if parse_timestamp(event["timestamp"]) <= cap:
            assert api_fields(after[event["id"]][1], event) == event
            assert after[event["id"]][0] == before[event["id"]][0]


def test_a_replay_out_of_time_while_writing_stops_between_objects_and_the_rest_follows(
    stack, api, clock
):
    given_export(stack, api, clock)
    change_api_values(api)
    before = by_id(stack)
    today = clock.now().date()
    slow = lambda **_: clock.advance(seconds=100)  # noqa: E731 - each PUT takes 100 s
    stack.session.events.register("before-call.s3.PutObject", slow)

    first = replay_now(stack, clock, api, today - 5 * DAY, today, seconds=250)
    stack.session.events.unregister("before-call.s3.PutObject", slow)
    assert first.stopped_early == "time"
    assert first.remaining is not None
    assert first.objects_rewritten >= 1
    rest = replay_now(stack, clock, api, *(date.fromisoformat(d) for d in first.remaining))

    assert rest.stopped_early is None
    assert rest.remaining is None
    after = by_id(stack)
    assert set(after) == set(before)
    cap = parse_timestamp(rest.replayed_until)
    for event in api.events["cmp_a"]:
        if parse_timestamp(event["timestamp"]) <= cap:
            assert api_fields(after[event["id"]][1], event) == event


# -- the crash suite: killed before any AWS call, run again; a reader watches every call -----


class Killed(BaseException):
    """Not an Exception: nothing of ours can catch it, as with a process that died."""


class KillSwitch:
    def __init__(self, at_call: int | None):
        self.at_call = at_call
        self.calls = 0

    def __call__(self, **_: object) -> None:
        self.calls += 1
        if self.at_call is not None and self.calls >= self.at_call:
            raise Killed(f"killed before AWS call {self.calls}")


class Reader:
    """A reader globbing the export prefix between any two AWS calls of the replay: it must
    never see an id twice, nor miss one that was there before the replay began."""

    def __init__(self, expected: set[str]):
        self.s3 = boto3.session.Session(region_name=REGION).client("s3")  # not hooked
        self.expected = expected
        self.looks = 0

    def __call__(self, **_: object) -> None:
        ids: Counter[str] = Counter()
        for page in self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=BUCKET, Prefix="events/"
        ):
            for item in page.get("Contents", []):
                body = self.s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
                ids.update(json.loads(x)["id"] for x in gzip.decompress(body).splitlines())
        self.looks += 1
        assert max(ids.values()) == 1, "a reader saw an id twice"
        assert self.expected <= set(ids), "a reader missed an id that was there"


def snapshot(stack: Stack) -> dict[str, bytes]:
    s3 = stack.session.client("s3")
    return {k: s3.get_object(Bucket=BUCKET, Key=k)["Body"].read() for k in stack.s3_keys()}


def restore(stack: Stack, objects: dict[str, bytes]) -> None:
    s3 = stack.session.client("s3")
    for key in stack.s3_keys():
        if key not in objects:
            s3.delete_object(Bucket=BUCKET, Key=key)
    for key, body in objects.items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)


def test_a_replay_killed_before_any_aws_call_then_run_again_leaves_each_id_once(stack, api, clock):
    given_export(stack, api, clock, BATCH_MAX_EVENTS="100")  # several objects per date
    day = clock.now().date() - 2 * DAY
    gone = next(k for k, r in by_id(stack).values() if r["timestamp"].startswith(str(day)))
    stack.session.client("s3").delete_object(Bucket=BUCKET, Key=gone)
    present = set(by_id(stack))
    all_ids = {e["id"] for c in ("cmp_a", "cmp_b") for e in api.events[c]}
    start_state = snapshot(stack)
    change_api_values(api)
    today = clock.now().date()
    looks = 0
    for at_call in range(1, 200):
        restore(stack, start_state)
        switch, reader = KillSwitch(at_call), Reader(present)
        stack.session.events.register("before-call.*.*", reader)
        stack.session.events.register("before-call.*.*", switch)
        try:
            replay_now(stack, clock, api, today - 3 * DAY, today, seconds=120)
        except Killed:
            pass
        else:
            break  # fewer AWS calls than at_call: every point was covered
        finally:
            stack.session.events.unregister("before-call.*.*", switch)
        stack.session.events.unregister("before-call.*.*", reader)
        reader()  # what the kill left
        looks += reader.looks
        clock.advance(seconds=121)  # past the killed replay's lease

        result = replay_now(stack, clock, api, today - 3 * DAY, today)

        rows = by_id(stack)  # exactly once
        assert set(rows) == all_ids, f"lost or not restored after a kill at AWS call {at_call}"
        cap = parse_timestamp(result.replayed_until)
        for event in api.events["cmp_a"]:
            if parse_timestamp(event["timestamp"]) <= cap:
                assert api_fields(rows[event["id"]][1], event) == event, at_call
        assert not [i for i in stack.items() if "lease_owner" in i], "a lease was kept"
    else:
        pytest.fail("the crash loop never reached the end of a replay")
    assert at_call > 10, "the replay made suspiciously few AWS calls"
    assert looks > at_call, "the reader did not watch"


def test_an_object_changed_between_read_and_write_is_read_again_and_both_changes_kept(
    stack, api, clock
):
    given_export(stack, api, clock)
    change_api_values(api)
    today = clock.now().date()
    s3 = boto3.session.Session(region_name=REGION).client("s3")  # another writer, not hooked
    # Today's object holds both campaigns; another writer changes a cmp_b record of it just
    # before the replay's first PUT of it (a replay of cmp_b, say).
    key, mine = next((k, r) for k, r in stack.records() if r["campaign_id"] == "cmp_b")
    raced: list[str] = []

    def other_writer(params: dict[str, Any], **_: object) -> None:
        if params.get("Key") == key and not raced:
            raced.append(key)
            lines = gzip.decompress(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
            changed = lines.replace(json.dumps(mine["email"]).encode(), b'"changed@elsewhere"', 1)
            s3.put_object(Bucket=BUCKET, Key=key, Body=gzip.compress(changed))

    stack.session.events.register("before-parameter-build.s3.PutObject", other_writer)

    result = replay_now(stack, clock, api, today, today)

    assert raced == [key]
    after = by_id(stack)
    assert after[mine["id"]][1]["email"] == "changed@elsewhere"  # the other write survived
    cap = parse_timestamp(result.replayed_until)
    for event in api.events["cmp_a"]:
        instant = parse_timestamp(event["timestamp"])
        if instant.date() == today and instant <= cap:
            assert api_fields(after[event["id"]][1], event) == event  # and so did ours
    assert result.objects_rewritten == 1
