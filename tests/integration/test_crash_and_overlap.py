"""Real processes, real SIGKILLs, real overlap: promise 2 against a moto server and the sandbox."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

import pytest

from tests.integration.conftest import finish, run_process

KEY = "wbk_crash_" + "x" * 48


def seed(sandbox, events: int = 260) -> datetime:
    world = sandbox.world
    world.add_workspace("acme", api_key=KEY, plan="org")
    for number, campaign in enumerate(("cmp_a", "cmp_b")):
        world.add_campaign("acme", campaign, status="active")
        end = world.clock.now() - timedelta(minutes=6)
        world.bulk_events(campaign, events, end - timedelta(days=3), end, seed=number + 1)
    return world.clock.now()


def assert_exactly_once(stack, sandbox, start: datetime) -> None:
    records = stack.records()
    ids = Counter(r["id"] for _, r in records)
    assert max(ids.values()) == 1, "an event is in S3 twice"
    # Whichever run wrote or recovered a group, its records say when and by which run, the
    # same for a whole object.
    stamps = {(key, r["exported_at"], r["export_run"]) for key, r in records}
    assert len(stamps) == len({key for key, _ in records})
    for campaign in ("cmp_a", "cmp_b"):
        missing = set(sandbox.truth(campaign, start - timedelta(minutes=5))) - set(ids)
        assert not missing, f"{len(missing)} events of {campaign} lost"


# A clean tick makes 31 to 33 AWS calls in the runner (measured; commit timing varies it):
# the dispatcher's, the event source's and the worker's (with its key lease taken and let go).
@pytest.mark.parametrize("kill_at", [2, 5, 8, 11, 14, 17, 20, 23, 26, 29])
def test_sigkill_before_an_aws_call_then_a_later_run_finishes_the_work(
    live_stack, sandbox, kill_at
):
    stack = live_stack
    start = seed(sandbox)
    stack.put_secret({"workspaces": [{"name": "acme", "api_key": KEY}]})

    code, _ = run_process(
        stack, sandbox, "--kill-at", str(kill_at), "--seconds", "600", BATCH_MAX_EVENTS="100"
    )
    assert code == -9, "the run finished before its kill point"
    # The next tick starts after the killed invocation's deadline (start + 600 s).
    code, summary = run_process(stack, sandbox, "--clock-offset", "700", BATCH_MAX_EVENTS="100")

    assert code == 0
    assert summary["status"] == "ok", summary
    assert_exactly_once(stack, sandbox, start)
    assert not [i for i in stack.items() if "pending" in i]
    notified = {m["MessageAttributes"]["event_id"]["StringValue"] for m in stack.messages()}
    expected = {r["id"] for _, r in stack.records() if r["type"] in ("clicked", "replied")}
    assert expected <= notified


def test_two_invocations_of_the_same_tick_overlap_without_duplicates(live_stack, sandbox):
    start = seed(sandbox, events=700)
    live_stack.put_secret({"workspaces": [{"name": "acme", "api_key": KEY}]})
    sandbox.world.faults.add("slow", count=None, seconds=0.15)  # keep both in flight

    first = run_process(live_stack, sandbox, wait=False, BATCH_MAX_EVENTS="200")
    second = run_process(live_stack, sandbox, wait=False, BATCH_MAX_EVENTS="200")
    results = [finish(first), finish(second)]

    assert [code for code, _ in results] == [0, 0]
    summaries = [s for _, s in results]
    assert all(s["status"] == "ok" for s in summaries), summaries
    # The key's lease lets one worker run at a time: the other finds the key busy (or, past
    # the lease, its campaigns).
    busy = [c for s in summaries for w in s["workspaces"] for c in w["busy_campaigns"]]
    skipped = sum(s["work_items_skipped"] for s in summaries)
    assert busy or skipped, "the two runs never overlapped: the test proved nothing"
    sandbox.world.faults.clear()
    code, summary = run_process(live_stack, sandbox)  # the next tick finishes any rest
    assert code == 0
    assert_exactly_once(live_stack, sandbox, start)
