"""Randomised timelines: ties, late events, pages shifting mid-walk, kills, small batches.

Each seed builds its own campaign history and run schedule; afterwards every event that became
visible within 10 minutes of its timestamp must be in S3 exactly once. A failing seed is
reproducible: the test id names it.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import timedelta

import pytest

from tests.conftest import run_exporter
from tests.unit.test_crash_anywhere import Killed, KillSwitch, arm, disarm

# many runs each (make test runs them; make check leaves them out)
pytestmark = pytest.mark.thorough

KEY = "wbk_" + "r" * 52
SEEDS = [*range(12), *(pytest.param(s, marks=pytest.mark.slow) for s in range(12, 300))]


def event(rng: random.Random, n: int, instant) -> dict:
    text = instant.strftime("%Y-%m-%dT%H:%M:%S") + rng.choice(["Z", ".000Z", "+00:00"])
    return {
        "id": f"evt_{n:06d}",
        "type": rng.choice(["sent", "opened", "clicked", "replied"]),
        "timestamp": text,
        "metadata": {"n": n},
    }


@pytest.mark.parametrize("seed", SEEDS)
def test_random_timeline_ends_with_every_event_exactly_once(stack, api, clock, seed):
    rng = random.Random(seed)
    api.keys[KEY] = "acme"
    api.campaigns["acme"] = [{"id": "cmp", "status": "active"}]
    api.events["cmp"] = []
    counter = iter(range(10**6))
    # History: some of it in bursts that share one second.
    for _ in range(rng.randint(0, 450)):
        instant = clock.now() - timedelta(seconds=rng.randint(400, 5 * 86_400))
        for _ in range(rng.choice([1, 1, 1, 3, 40])):
            api.events["cmp"].append(event(rng, next(counter), instant))
    late_ok: set[str] = set()

    def insert_while_paging(path: str, query: dict) -> None:
        if query.get("page") not in (None, "1") and rng.random() < 0.5:
            for _ in range(rng.randint(1, 5)):
                item = event(
                    rng, next(counter), clock.now() - timedelta(seconds=rng.randint(0, 590))
                )
                api.events["cmp"].append(item)
                late_ok.add(item["id"])

    api.before_request.append(insert_while_paging)
    stack.put_secret({"workspaces": [{"name": "acme", "api_key": KEY}]})
    batch = str(rng.choice([100, 250, 10_000]))
    env = {"BATCH_MAX_EVENTS": batch, "NOTIFY_EVENT_TYPES": ""}  # moto's SQS slows as it fills

    for _ in range(rng.randint(6, 14)):
        for _ in range(rng.randint(0, 30)):  # new events, some visible only later (<= 10 min)
            instant = clock.now() - timedelta(seconds=rng.randint(0, 300))
            item = event(rng, next(counter), instant)
            api.events["cmp"].append(item)
            delay = rng.choice([0, 0, 0, rng.randint(1, 600)])
            api.visible_at[item["id"]] = instant + timedelta(seconds=delay)
        if rng.random() < 0.3:
            switch = KillSwitch(rng.randint(1, 12))
            arm(stack, switch)
            try:
                run_exporter(stack, clock, api, seconds=300, **env)
            except Killed:
                clock.advance(seconds=301)  # the next tick starts after the deadline
            finally:
                disarm(stack, switch)
        else:
            run_exporter(stack, clock, api, **env)
        clock.advance(seconds=rng.choice([5, 60, 300, 900, 3600]))
    clock.advance(minutes=11)  # everything is visible and settled now
    run_exporter(stack, clock, api, **env)
    clock.advance(minutes=1)
    run_exporter(stack, clock, api, **env)

    ids = Counter(r["id"] for _, r in stack.records())
    assert max(ids.values(), default=1) == 1, "an event is in S3 twice"
    expected = {e["id"] for e in api.events["cmp"]}
    missing = expected - set(ids)
    assert not missing, f"seed {seed}: {len(missing)} of {len(expected)} events lost"
