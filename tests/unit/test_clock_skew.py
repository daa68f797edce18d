"""Windows end on the function's clock; events carry the API's. An API clock behind ours must
not push late events out of the lookback."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from tests.conftest import run_exporter
from tests.fakes import make_events

KEY = "wbk_" + "w" * 52


def test_an_api_clock_five_minutes_behind_still_gets_events_nine_minutes_late(stack, api, clock):
    api.api_clock_offset = -300.0  # the API's clock runs 5 minutes behind ours
    api.keys[KEY] = "acme"
    api.campaigns["acme"] = [{"id": "c1", "status": "active"}]
    api_now = clock.now() - timedelta(minutes=5)
    api.events["c1"] = make_events("c1", 5, api_now - timedelta(minutes=20), 60)
    stack.put_secret({"workspaces": [{"name": "acme", "api_key": KEY}]})
    first = run_exporter(stack, clock, api)
    assert first["workspaces"][0]["api_clock_skew_seconds"] == -300

    # Stamped by the API 9 minutes before it shows up, which is one minute after our last run.
    clock.advance(minutes=1)
    late = make_events("late", 1, clock.now() - timedelta(minutes=5 + 9), 1)
    api.events["c1"] = late + api.events["c1"]
    clock.advance(minutes=14)
    run_exporter(stack, clock, api)

    ids = Counter(r["id"] for _, r in stack.records())
    assert late[0]["id"] in ids, "the late event fell out of the lookback"
    assert max(ids.values()) == 1
    assert len(ids) == 6
