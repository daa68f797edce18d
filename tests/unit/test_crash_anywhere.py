"""Kill the exporter before any AWS call, run again after its deadline: nothing lost or doubled.

In-process version of the crash suite: a botocore hook raises `Killed` (a BaseException, so no
`except Exception` of ours can catch it) on the Nth AWS call and on every call after it, like a
process that died. The integration suite does the same with real SIGKILLs.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from tests.conftest import Stack, run_exporter
from tests.fakes import FakeClock, FakeLeadLex, make_events

# many runs each (make test runs them; make check leaves them out)
pytestmark = pytest.mark.thorough

KEY = "wbk_" + "c" * 52


class Killed(BaseException):
    pass


class KillSwitch:
    def __init__(self, at_call: int | None):
        self.at_call = at_call
        self.calls = 0

    def __call__(self, **kwargs: object) -> None:
        self.calls += 1
        if self.at_call is not None and self.calls >= self.at_call:
            raise Killed(f"killed before AWS call {self.calls}")


def arm(stack: Stack, switch: KillSwitch) -> None:
    stack.session.events.register("before-call.*.*", switch)


def disarm(stack: Stack, switch: KillSwitch) -> None:
    stack.session.events.unregister("before-call.*.*", switch)


def given(stack: Stack, api: FakeLeadLex, clock: FakeClock) -> None:
    api.keys[KEY] = "acme"
    api.campaigns["acme"] = [
        {"id": "cmp_a", "status": "active"},
        {"id": "cmp_b", "status": "active"},
    ]
    api.events["cmp_a"] = make_events(
        "cmp_a", 150, clock.now() - timedelta(minutes=6), spacing_seconds=4000
    )  # several event dates
    api.events["cmp_b"] = make_events("cmp_b", 40, clock.now() - timedelta(minutes=6))
    stack.put_secret({"workspaces": [{"name": "acme", "api_key": KEY}]})


def count_calls(stack: Stack, api: FakeLeadLex, clock: FakeClock) -> int:
    switch = KillSwitch(None)
    arm(stack, switch)
    run_exporter(stack, clock, api, BATCH_MAX_EVENTS="100")
    disarm(stack, switch)
    return switch.calls


@pytest.mark.parametrize(
    ("batch", "inline"),
    [
        # a kill at every call (make test-slow), at every 3rd in make test (the suite's time)
        pytest.param("100", 12_000, marks=pytest.mark.slow, id="inline-every-call"),
        pytest.param("100", 12_000, id="inline-sampled"),
        pytest.param("10000", 12_000, marks=pytest.mark.slow),
        # every campaign's state in its S3 object (checkpoints.py): every 4th call by default
        pytest.param("100", 64, id="spilled-sampled"),
        pytest.param("100", 64, marks=pytest.mark.slow, id="spilled-every-call"),
    ],
)
def test_a_kill_before_any_aws_call_loses_and_doubles_nothing(
    stack, api, clock, batch, inline, monkeypatch, request
):
    from leadlex_exporter import checkpoints

    monkeypatch.setattr(checkpoints, "INLINE_STATE_BYTES", inline)
    given(stack, api, clock)
    # Probe how many AWS calls a clean run makes, on a throwaway copy of the timeline.
    expected_ids = {e["id"] for c in ("cmp_a", "cmp_b") for e in api.events[c]}
    notify_ids = {
        e["id"]
        for c in ("cmp_a", "cmp_b")
        for e in api.events[c]
        if e["type"] in ("clicked", "replied")
    }
    notified: set[str] = set()
    step = {"spilled-sampled": 4, "inline-sampled": 3}.get(request.node.callspec.id, 1)
    for at_call in range(1, 200, step):
        switch = KillSwitch(at_call)
        arm(stack, switch)
        try:
            run_exporter(stack, clock, api, seconds=120, BATCH_MAX_EVENTS=batch)
        except Killed:
            pass
        else:
            break  # the run made fewer AWS calls than at_call: every point was covered
        finally:
            disarm(stack, switch)
        notified |= {m["MessageAttributes"]["event_id"]["StringValue"] for m in stack.messages()}
        # The next scheduled run starts after the killed invocation's deadline.
        clock.advance(seconds=121)
        result = run_exporter(stack, clock, api, BATCH_MAX_EVENTS=batch)
        assert result["status"] == "ok", (at_call, result)
        ids = Counter(r["id"] for _, r in stack.records())
        assert set(ids) == expected_ids, f"lost events after a kill at AWS call {at_call}"
        assert max(ids.values()) == 1, f"duplicates after a kill at AWS call {at_call}"
        notified |= {m["MessageAttributes"]["event_id"]["StringValue"] for m in stack.messages()}
        assert notify_ids <= notified, f"missing notifications after a kill at {at_call}"
        # Nothing may still be pending, and every state object named exists.
        assert not [i for i in stack.items() if "pending" in i], "a commit is still pending"
        named = {i["state_ref"]["S"] for i in stack.items() if "state_ref" in i}
        assert named <= set(stack.s3_keys(checkpoints.STATE_PREFIX + "/"))
        assert bool(named) == (inline < 1_000)
        reset(stack, api)
        given(stack, api, clock)
        notified = set()
    else:
        pytest.fail("the crash loop never reached the end of a run")
    assert at_call > 10, "the run made suspiciously few AWS calls"


def reset(stack: Stack, api: FakeLeadLex) -> None:
    s3 = stack.session.client("s3")
    for key in stack.s3_keys():
        s3.delete_object(Bucket="leadlex-export-test", Key=key)
    ddb = stack.session.client("dynamodb")
    for item in stack.items():
        ddb.delete_item(TableName="leadlex-checkpoints-test", Key={"pk": item["pk"]})
    stack.messages()
    api.calls.clear()
