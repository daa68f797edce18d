"""Commit groups: many campaigns per commit, objects per event date, full SQS batches, and a
group left pending by a crash finished by whichever run meets it first."""

from __future__ import annotations

import json
import math
from collections import Counter
from datetime import timedelta

import pytest

from tests.conftest import TABLE, Stack, run_exporter
from tests.fakes import FakeClock, FakeLeadLex, make_events

# many runs each (make test runs them; make check leaves them out)
pytestmark = pytest.mark.thorough

KEY = "wbk_" + "g" * 52
NOTIFY = ("clicked", "replied")
# One event in ten is notified: moto's in-process SQS slows down with every message queued.
TYPES = ("sent", "opened", "sent", "clicked", "sent", "opened", "sent", "opened", "sent", "sent")


def given(
    stack: Stack,
    api: FakeLeadLex,
    clock: FakeClock,
    counts: dict[str, int],
    types: tuple[str, ...] = TYPES,
) -> None:
    api.keys[KEY] = "acme"
    api.campaigns["acme"] = [{"id": c, "status": "active"} for c in counts]
    for campaign, count in counts.items():
        # 90 s apart: a 1,000-event campaign spans two event dates
        end = clock.now() - timedelta(minutes=6)
        api.events[campaign] = make_events(campaign, count, end, 90, types=types)
    stack.put_secret({"workspaces": [{"name": "acme", "api_key": KEY}]})


class Calls:
    def __init__(self, stack: Stack) -> None:
        self.names: Counter[str] = Counter()
        self.batch_sizes: list[int] = []
        stack.session.events.register("before-call.*.*", self.call)
        stack.session.events.register("before-parameter-build.sqs.SendMessageBatch", self.batch)

    def call(self, event_name: str, **_: object) -> None:
        self.names[event_name.split(".", 2)[2]] += 1

    def batch(self, params: dict, **_: object) -> None:
        self.batch_sizes.append(len(params["Entries"]))


def assert_each_event_once(stack: Stack, api: FakeLeadLex) -> None:
    ids = Counter(r["id"] for _, r in stack.records())
    assert set(ids) == {e["id"] for es in api.events.values() for e in es}, "an event is missing"
    assert max(ids.values()) == 1, "an event is in S3 twice"


def notify_count(api: FakeLeadLex) -> int:
    return sum(e["type"] in NOTIFY for events in api.events.values() for e in events)


def test_one_commit_for_many_campaigns_writes_one_object_per_date(stack, api, clock):
    counts = {f"cmp_{i:02d}": 5 + 7 * i for i in range(25)}
    given(stack, api, clock, counts)
    calls = Calls(stack)

    result = run_exporter(stack, clock, api)

    assert result["status"] == "ok", result
    records = stack.records()
    ids = Counter(r["id"] for _, r in records)
    assert len(ids) == sum(counts.values())
    assert set(ids.values()) == {1}
    dates = {r["timestamp"][:10] for _, r in records}
    keys = {k for k, _ in records}
    assert len(keys) == len(dates), "one object per event date for the whole workspace"
    per_key = Counter(k for k, _ in {(k, r["campaign_id"]) for k, r in records})
    assert max(per_key.values()) == 25, "an object holds every campaign of that date"
    assert calls.names["PutObject"] == len(dates)
    assert calls.names["TransactWriteItems"] == 2  # pending, then the commit
    assert calls.names["UpdateItem"] == 25 + 2  # the leases, and the key's taken and let go
    n = notify_count(api)
    assert calls.names["SendMessageBatch"] == math.ceil(n / 10)
    assert len(stack.messages()) == n


def test_past_its_soft_size_a_group_commits_when_sqs_batches_are_full(stack, api, clock):
    # One page a campaign with 51 notifications: each campaign leaves one message over.
    # Past 600 events (campaign 6) a group waits for the 10th campaign to commit.
    fifty_one = ("clicked",) * 51 + ("sent",) * 49
    given(stack, api, clock, {f"cmp_{i:02d}": 100 for i in range(20)}, types=fifty_one)
    calls = Calls(stack)

    result = run_exporter(stack, clock, api, BATCH_MAX_EVENTS="600")

    assert result["status"] == "ok", result
    assert calls.names["TransactWriteItems"] == 2 * 2  # two groups of ten campaigns
    n = notify_count(api)
    assert n == 20 * 51
    assert calls.batch_sizes.count(10) == n // 10
    assert calls.names["SendMessageBatch"] == math.ceil(n / 10)
    assert Counter(r["id"] for _, r in stack.records()).most_common(1)[0][1] == 1


class Killed(BaseException):
    pass


def kill_at(stack: Stack, operation: str, nth: int = 1, after: str | None = None, match=None):
    """Raise Killed before the `nth` call of `operation` (counted once `after` was called, and
    only calls whose parameters `match`)."""
    seen: Counter[str] = Counter()

    def hook(event_name: str, params: dict, **_: object) -> None:
        name = event_name.split(".", 2)[2]
        seen[name] += 1
        if after is not None and not seen[after]:
            return
        if name == operation and (match is None or match(params)):
            seen["matched"] += 1
            if seen["matched"] >= nth:
                raise Killed(event_name)

    stack.session.events.register("before-parameter-build.*.*", hook)
    return hook


def disarm(stack: Stack, hook) -> None:
    stack.session.events.unregister("before-parameter-build.*.*", hook)


@pytest.mark.parametrize(
    ("operation", "nth", "after", "rolled"),
    [
        ("PutObject", 1, None, "back"),  # pending recorded, no object landed
        # the last (4th) batch fails while the objects land beside it: no commit
        ("SendMessageBatch", 4, None, "forward"),
        ("TransactWriteItems", 1, "PutObject", "forward"),  # everything but the commit
    ],
)
def test_a_crashed_group_is_finished_by_a_run_that_holds_only_one_member(
    stack, api, clock, operation, nth, after, rolled
):
    given(stack, api, clock, {"cmp_a": 250, "cmp_b": 55})  # 31 notifications: one left over
    hook = kill_at(stack, operation, nth, after=after)
    with pytest.raises(Killed):
        run_exporter(stack, clock, api, seconds=120)
    disarm(stack, hook)
    assert {i["pk"]["S"] for i in stack.items() if "pending_group" in i} == {
        "campaign#acme#cmp_a",
        "campaign#acme#cmp_b",
    }

    # After the deadline, a run whose secret lists cmp_b only meets the group first.
    clock.advance(seconds=121)
    stack.put_secret({"workspaces": [{"name": "acme", "api_key": KEY, "campaigns": ["cmp_b"]}]})
    api.calls.clear()
    result = run_exporter(stack, clock, api)

    assert result["status"] == "ok", result
    assert not [i for i in stack.items() if "pending" in i], "the whole group is settled"
    ids = Counter(r["id"] for _, r in stack.records())
    assert max(ids.values()) == 1
    a_ids = {e["id"] for e in api.events["cmp_a"]}
    if rolled == "forward":
        assert a_ids <= set(ids), "cmp_a's events were committed with the group"
        assert not [p for p, _ in api.calls if "cmp_a" in p]
    else:
        assert not a_ids & set(ids), "the group's objects were taken back"

    # cmp_a's own next run continues from the group's outcome: nothing lost or doubled.
    stack.put_secret({"workspaces": [{"name": "acme", "api_key": KEY}]})
    result = run_exporter(stack, clock, api)
    assert result["status"] == "ok", result
    ids = Counter(r["id"] for _, r in stack.records())
    assert set(ids) == a_ids | {e["id"] for e in api.events["cmp_b"]}
    assert max(ids.values()) == 1
    notified = {m["MessageAttributes"]["event_id"]["StringValue"] for m in stack.messages()}
    assert {e["id"] for es in api.events.values() for e in es if e["type"] in NOTIFY} <= notified


def pending_of(stack: Stack) -> dict[str, dict]:
    return {i["pk"]["S"]: json.loads(i["pending"]["S"]) for i in stack.items() if "pending" in i}


def crash_before_the_commit(stack: Stack, api: FakeLeadLex, clock: FakeClock) -> str:
    """Four campaigns, killed when only the group's commit is missing; returns the leader."""
    given(stack, api, clock, {"cmp_a": 120, "cmp_b": 60, "cmp_c": 30, "cmp_d": 5})
    hook = kill_at(stack, "TransactWriteItems", 1, after="PutObject")
    with pytest.raises(Killed):
        run_exporter(stack, clock, api, seconds=120)
    disarm(stack, hook)
    pending = pending_of(stack)
    assert len(pending) == 4
    (leader,) = [pk for pk, p in pending.items() if "keys" in p["group"]]
    return leader


def test_the_manifest_is_on_the_leader_and_every_other_member_names_it(stack, api, clock):
    leader = crash_before_the_commit(stack, api, clock)

    pending = pending_of(stack)
    manifest = pending[leader]["group"]
    assert {pk for pk, _ in manifest["members"]} == set(pending)
    assert manifest["keys"]
    assert all(k in stack.s3_keys() for k in manifest["keys"])
    for pk, member in pending.items():
        if pk != leader:
            assert member["group"] == {"id": manifest["id"], "leader": leader}
            assert "keys" not in json.dumps(member), "the keys are written once per group"


@pytest.mark.parametrize("listed", ["leader", "another member"])
def test_a_group_is_finished_from_its_leader_or_from_any_other_member(stack, api, clock, listed):
    leader = crash_before_the_commit(stack, api, clock)
    others = sorted(pk for pk in pending_of(stack) if pk != leader)
    pk = leader if listed == "leader" else others[-1]
    campaign = pk.rsplit("#", 1)[1]
    clock.advance(seconds=121)
    stack.put_secret({"workspaces": [{"name": "acme", "api_key": KEY, "campaigns": [campaign]}]})
    api.calls.clear()

    result = run_exporter(stack, clock, api)

    assert result["status"] == "ok", result
    assert not pending_of(stack), "the whole group is settled"
    assert_each_event_once(stack, api)  # rolled forward: every member's events are in
    assert len(api.calls) == 1, "one idle call for the one campaign the secret lists"
    stack.put_secret({"workspaces": [{"name": "acme", "api_key": KEY}]})
    assert run_exporter(stack, clock, api)["status"] == "ok"
    assert_each_event_once(stack, api)


def test_a_member_its_leader_does_not_list_fails_by_name_and_loses_nothing(stack, api, clock):
    leader = crash_before_the_commit(stack, api, clock)
    pending = pending_of(stack)
    other = sorted(pk for pk in pending if pk != leader)[0]
    manifest = pending[leader]["group"]
    damaged = {**manifest, "members": [m for m in manifest["members"] if m[0] != other]}
    stack.session.client("dynamodb").update_item(
        TableName=TABLE,
        Key={"pk": {"S": leader}},
        UpdateExpression="SET pending = :p",
        ExpressionAttributeValues={":p": {"S": json.dumps({**pending[leader], "group": damaged})}},
    )
    campaign = other.rsplit("#", 1)[1]
    clock.advance(seconds=121)
    stack.put_secret({"workspaces": [{"name": "acme", "api_key": KEY, "campaigns": [campaign]}]})

    result = run_exporter(stack, clock, api)

    assert result["status"] == "partial_failure", result
    message = result["workspaces"][0]["failed_campaigns"][campaign]
    assert manifest["id"] in message
    assert "does not list" in message
    assert set(pending_of(stack)) == set(pending), "nothing settled, nothing lost"
    assert all(k in stack.s3_keys() for k in manifest["keys"])


def test_events_that_name_another_campaign_keep_their_field_and_commit_alone(stack, api, clock):
    given(stack, api, clock, {"cmp_a": 30, "cmp_b": 20, "cmp_c": 10})
    for event in api.events["cmp_b"]:
        event["campaign_id"] = "cmp_elsewhere"  # the API's own field, kept as it is
    # cmp_b's group has cmp_b alone; kill it just before its commit (a one-item write).
    hook = kill_at(
        stack,
        "UpdateItem",
        match=lambda p: (
            "pending_group = :g" in p.get("ConditionExpression", "")
            and p["Key"]["pk"]["S"].endswith("#cmp_b")
        ),
    )
    with pytest.raises(Killed):
        run_exporter(stack, clock, api, seconds=120)
    disarm(stack, hook)
    assert [i["pk"]["S"] for i in stack.items() if "pending_group" in i] == ["campaign#acme#cmp_b"]
    clock.advance(seconds=121)

    result = run_exporter(stack, clock, api)

    assert result["status"] == "ok", result
    records = [r for _, r in stack.records()]
    assert Counter(r["id"] for r in records).most_common(1)[0][1] == 1
    assert len(records) == 60
    by_id = {r["id"]: r for r in records}
    for event in api.events["cmp_b"]:
        assert by_id[event["id"]]["campaign_id"] == "cmp_elsewhere"
    # Recovery attributed cmp_b's events to cmp_b: its checkpoint moved past them.
    api.calls.clear()
    clock.advance(minutes=15)
    run_exporter(stack, clock, api)
    assert Counter(r["id"] for _, r in stack.records()).most_common(1)[0][1] == 1
    assert len(api.calls) == 1 + 3  # the list and one idle call per campaign


def test_sqs_refusing_entries_fails_the_groups_campaigns_and_the_next_run_delivers(
    stack, api, clock
):
    given(stack, api, clock, {"cmp_a": 120, "cmp_b": 30})

    def refuse(parsed: dict, **_: object) -> None:  # SQS reports every entry as Failed
        accepted = parsed.pop("Successful", [])
        parsed["Failed"] = [
            {"Id": e["Id"], "SenderFault": False, "Code": "InternalError"} for e in accepted
        ]

    stack.session.events.register("after-call.sqs.SendMessageBatch", refuse)
    result = run_exporter(stack, clock, api)
    stack.session.events.unregister("after-call.sqs.SendMessageBatch", refuse)

    assert result["status"] == "partial_failure", result
    assert set(result["workspaces"][0]["failed_campaigns"]) == {"cmp_a", "cmp_b"}
    assert {i["pk"]["S"] for i in stack.items() if "pending_group" in i} == {
        "campaign#acme#cmp_a",
        "campaign#acme#cmp_b",
    }
    stack.messages()  # what SQS really queued while "refusing"
    clock.advance(minutes=5)
    result = run_exporter(stack, clock, api)
    assert result["status"] == "ok", result
    assert_each_event_once(stack, api)
    notified = {m["MessageAttributes"]["event_id"]["StringValue"] for m in stack.messages()}
    assert {e["id"] for es in api.events.values() for e in es if e["type"] in NOTIFY} <= notified


@pytest.mark.parametrize(
    ("operation", "nth"),
    [
        ("UpdateItem", 50),  # while taking the leases
        ("TransactWriteItems", 1),  # the first group's pending
        ("PutObject", 1),
        ("TransactWriteItems", 2),  # the first group's commit
        ("TransactWriteItems", 3),  # the second group's pending
        ("TransactWriteItems", 4),  # the second group's commit
    ],
)
def test_more_campaigns_than_a_transaction_holds_survive_a_kill(stack, api, clock, operation, nth):
    # 120 campaigns: the first phase needs two groups (a transaction takes 100 items).
    counts = {f"cmp_{i:03d}": 3 + i % 17 for i in range(120)}
    given(stack, api, clock, counts)
    hook = kill_at(stack, operation, nth)
    with pytest.raises(Killed):
        run_exporter(stack, clock, api, seconds=120)
    disarm(stack, hook)
    clock.advance(seconds=121)

    result = run_exporter(stack, clock, api)

    assert result["status"] == "ok", result
    assert_each_event_once(stack, api)
    assert not [i for i in stack.items() if "pending" in i]


def test_a_group_that_fails_on_the_committer_thread_stops_its_campaigns_and_loses_nothing(
    stack, api, clock
):
    # Groups of about 300 events: cmp_a's pages span the first two groups. The first commit
    # fails (DynamoDB refuses it) while the second group fills: both groups' campaigns stop,
    # since the second builds on the first; the next run finishes everything, exactly once.
    from botocore.exceptions import ClientError

    given(stack, api, clock, {"cmp_a": 450, "cmp_b": 250, "cmp_c": 250})
    failed = Counter[str]()

    def refuse_first_commit(event_name: str, params: dict, **_: object) -> None:
        updates = [i["Update"] for i in params.get("TransactItems", [])] or [params]
        commit = any(u.get("ConditionExpression", "").startswith("pending_group") for u in updates)
        if commit and not failed["done"]:
            failed["done"] += 1
            raise ClientError({"Error": {"Code": "InternalServerError"}}, "TransactWriteItems")

    stack.session.events.register("before-parameter-build.dynamodb.*", refuse_first_commit)
    result = run_exporter(stack, clock, api, BATCH_MAX_EVENTS="300")
    stack.session.events.unregister("before-parameter-build.dynamodb.*", refuse_first_commit)

    assert failed["done"] == 1
    assert result["status"] == "partial_failure", result
    failures = result["workspaces"][0]["failed_campaigns"]
    interrupted = result["workspaces"][0]["interrupted_campaigns"]
    # the first group's campaigns fail; the second group's others stop without failing
    assert failures, result
    assert set(failures) | set(interrupted) == {"cmp_a", "cmp_b", "cmp_c"}, result
    assert {i["pk"]["S"] for i in stack.items() if "pending_group" in i}, "the group stays pending"

    clock.advance(seconds=1_000)  # past the failed run's deadline
    result = run_exporter(stack, clock, api)

    assert result["status"] == "ok", result
    assert_each_event_once(stack, api)
    assert not [i for i in stack.items() if "pending" in i]


def test_a_failed_commit_fails_only_its_own_campaigns_not_the_next_groups(stack, api, clock):
    # Six campaigns of 250 events, groups of about 300: the first group's commit fails while
    # the next ones fill. Only the campaigns of the failed group fail; a campaign that was
    # never in it is exported in this run, and a stopped campaign's later pages stay out.
    from botocore.exceptions import ClientError

    counts = {f"cmp_{c}": 250 for c in "abcdef"}
    given(stack, api, clock, counts)
    first_group: set[str] = set()

    def refuse_first_commit(event_name: str, params: dict, **_: object) -> None:
        updates = [i["Update"] for i in params.get("TransactItems", [])] or [params]
        commit = any(u.get("ConditionExpression", "").startswith("pending_group") for u in updates)
        if commit and not first_group:
            first_group.update(u["Key"]["pk"]["S"].rsplit("#", 1)[1] for u in updates)
            raise ClientError({"Error": {"Code": "InternalServerError"}}, "TransactWriteItems")

    stack.session.events.register("before-parameter-build.dynamodb.*", refuse_first_commit)
    result = run_exporter(stack, clock, api, BATCH_MAX_EVENTS="300")
    stack.session.events.unregister("before-parameter-build.dynamodb.*", refuse_first_commit)

    workspace = result["workspaces"][0]
    assert first_group, "no commit was refused"
    assert set(workspace["failed_campaigns"]) == first_group, (first_group, workspace)
    exported = Counter(r["campaign_id"] for _, r in stack.records())
    never_in_it = set(counts) - first_group - set(workspace["interrupted_campaigns"])
    assert never_in_it, "the scenario should leave campaigns outside the failed group"
    for campaign in never_in_it:
        assert exported[campaign] == 250, (campaign, exported)

    clock.advance(seconds=1_000)  # past the failed run's deadline
    result = run_exporter(stack, clock, api)

    assert result["status"] == "ok", result
    assert_each_event_once(stack, api)


def test_recovering_a_large_group_stops_at_the_deadline_and_the_next_run_finishes(
    stack, api, clock
):
    given(stack, api, clock, {"cmp_a": 150, "cmp_b": 20})
    # an event every 4,000 s: cmp_a's events span seven dates, one object each
    api.events["cmp_a"] = make_events("cmp_a", 150, clock.now() - timedelta(minutes=6), 4000)
    hook = kill_at(stack, "TransactWriteItems", 1, after="PutObject")
    with pytest.raises(Killed):
        run_exporter(stack, clock, api, seconds=120)
    disarm(stack, hook)
    keys = json.loads(
        next(i for i in stack.items() if "keys" in json.loads(i["pending"]["S"])["group"])[
            "pending"
        ]["S"]
    )["group"]["keys"]
    assert len(keys) >= 5, "the scenario needs a group of several objects"
    clock.advance(seconds=121)
    # Each object takes 40 s to read back; the run has 100 s (95 after its margin).
    calls_after_deadline: list[str] = []
    ends_at = clock.now() + timedelta(seconds=100)

    def slow_reads(event_name: str, **_: object) -> None:
        # recovery's own work (not the run's closing writes: lease, quota, plan)
        recovering = ("GetObject", "TransactWriteItems", "SendMessageBatch", "DeleteObject")
        if clock.now() >= ends_at and event_name.endswith(recovering):
            calls_after_deadline.append(event_name)
        if event_name.endswith("GetObject"):
            clock.advance(seconds=40)

    stack.session.events.register("before-call.*.*", slow_reads)
    result = run_exporter(stack, clock, api, seconds=100)
    stack.session.events.unregister("before-call.*.*", slow_reads)

    assert result["stopped_early"] == "time", result
    assert calls_after_deadline == []
    assert pending_of(stack), "the group stays pending for the next run"

    clock.advance(seconds=200)
    result = run_exporter(stack, clock, api)
    assert result["status"] == "ok", result
    assert not pending_of(stack)
    assert_each_event_once(stack, api)


def test_a_group_refused_before_it_is_pending_sends_no_notification(stack, api, clock):
    # DynamoDB refuses step 1 (no crash): the group never became pending, so its pages are
    # read again by the next run. Had its notifications gone out as batches filled, the next
    # run would send them a second time; they wait for step 1 instead.
    from botocore.exceptions import ClientError

    given(stack, api, clock, {"cmp_a": 250, "cmp_b": 40})
    refused = Counter[str]()

    def refuse_pending(event_name: str, params: dict, **_: object) -> None:
        updates = [i["Update"] for i in params.get("TransactItems", [])] or [params]
        step_one = any(u.get("UpdateExpression", "").startswith("SET pending") for u in updates)
        if step_one and not refused["done"]:
            refused["done"] += 1
            raise ClientError({"Error": {"Code": "InternalServerError"}}, "TransactWriteItems")

    stack.session.events.register("before-parameter-build.dynamodb.*", refuse_pending)
    first = run_exporter(stack, clock, api, BATCH_MAX_EVENTS="100")
    stack.session.events.unregister("before-parameter-build.dynamodb.*", refuse_pending)
    assert refused["done"] == 1
    assert first["workspaces"][0]["failed_campaigns"], first
    clock.advance(seconds=1_000)
    second = run_exporter(stack, clock, api, BATCH_MAX_EVENTS="100")

    assert second["status"] == "ok", second
    assert_each_event_once(stack, api)
    sent = Counter(m["MessageAttributes"]["event_id"]["StringValue"] for m in stack.messages())
    expected = {e["id"] for es in api.events.values() for e in es if e["type"] in NOTIFY}
    assert set(sent) == expected
    assert max(sent.values()) == 1, [i for i, n in sent.items() if n > 1]
