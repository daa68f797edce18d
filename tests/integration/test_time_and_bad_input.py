"""Deadlines, quotas over HTTP and bad input: each affects only itself and nothing is lost."""

from __future__ import annotations

import gzip
import json
import time
from collections import Counter
from datetime import timedelta
from urllib.parse import unquote

import pytest

from leadlex_exporter.errors import ConfigurationError
from tests.integration.conftest import invoke

GOOD = "wbk_good_" + "g" * 48
REVOKED = "wbk_revoked_" + "r" * 45
NO_SCOPE = "wbk_noscope_" + "n" * 45


def test_a_run_that_would_outlast_its_deadline_stops_and_the_next_runs_finish(
    live_stack, sandbox, monkeypatch
):
    world = sandbox.world
    world.add_workspace("acme", api_key=GOOD, plan="org")
    world.add_campaign("acme", "cmp_big", status="active")
    end = world.clock.now() - timedelta(minutes=6)
    world.bulk_events("cmp_big", 2_500, end - timedelta(days=9), end, seed=3)
    start = world.clock.now()
    live_stack.put_secret({"workspaces": [{"name": "acme", "api_key": GOOD}]})
    world.faults.add("slow", count=None, seconds=0.25)

    results = []
    for _ in range(8):
        results.append(
            invoke(
                live_stack,
                sandbox,
                monkeypatch,
                seconds=4,
                STOP_MARGIN_SECONDS="1",
                BATCH_MAX_EVENTS="500",
            )
        )
        if results[-1]["stopped_early"] is None:
            break

    assert results[0]["stopped_early"] == "time"
    assert results[0]["workspaces"][0]["events_exported"] > 0, "no progress kept"
    assert results[-1]["stopped_early"] is None
    assert len(results) > 2
    ids = Counter(r["id"] for _, r in live_stack.records())
    assert max(ids.values()) == 1
    assert set(sandbox.truth("cmp_big", start - timedelta(minutes=5))) <= set(ids)


def test_bad_keys_missing_campaigns_and_malformed_records_only_affect_themselves(
    live_stack, sandbox, monkeypatch
):
    world = sandbox.world
    world.add_workspace("good", api_key=GOOD, plan="org")
    world.add_workspace("revoked", api_key=REVOKED, plan="org", revoked=True)
    world.add_workspace("noscope", api_key=NO_SCOPE, plan="org", scopes=())
    odd_id, odd_name = "../cmp/x y%?#=", "ops/../team=a b"
    now = world.clock.now() - timedelta(minutes=6)
    world.add_campaign("good", odd_id, status="active")
    world.add_campaign("good", "cmp_ok", status="active")
    good_events = [
        {
            "id": "evt_ok1",
            "type": "opened",
            "contact_id": None,
            "email": None,
            "step_id": None,
            "timestamp": (now - timedelta(minutes=3)).strftime("%Y-%m-%dT%H:%M:%S.123456789Z"),
            "metadata": None,
        },
        {
            "id": "evt_ok2",
            "type": "forwarded_v2",
            "contact_id": "c",
            "email": "é@x.test",
            "step_id": "s",
            "timestamp": (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S+00:00"),
            "metadata": "not an object",
            "brand_new": [1, 2],
        },
        {
            "id": "evt_ok3",
            "type": "clicked",
            "timestamp": (now - timedelta(hours=2))
            .astimezone(__import__("datetime").timezone(timedelta(hours=5, minutes=30)))
            .isoformat(),
            "metadata": {"url": "https://a.test/?q=1"},
        },
    ]
    malformed = [
        {"type": "sent", "timestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ")},
        {"id": "evt_bad_ts", "type": "sent", "timestamp": "yesterday"},
    ]
    world.add_events(odd_id, good_events + malformed)
    world.bulk_events("cmp_ok", 150, now - timedelta(days=1), now, seed=5)
    live_stack.put_secret(
        {
            "workspaces": [
                {"name": odd_name, "api_key": GOOD, "campaigns": [odd_id, "cmp_gone", "cmp_ok"]},
                {"name": "revoked", "api_key": REVOKED},
                {"name": "noscope", "api_key": NO_SCOPE},
                {"name": "broken entry"},
            ]
        }
    )

    time.sleep(1.1)  # the sandbox dates a record without a timestamp by its insertion
    result = invoke(live_stack, sandbox, monkeypatch)

    assert result["status"] == "partial_failure"
    by_name = {w["workspace"]: w for w in result["workspaces"]}
    assert by_name["revoked"]["status"] == "failed"
    assert by_name["noscope"]["status"] == "failed"
    assert list(by_name[odd_name]["failed_campaigns"]) == ["cmp_gone"]
    assert result["invalid_entries"][0]["entry"].startswith("workspaces[3]")
    records = live_stack.records()
    ids = Counter(r["id"] for _, r in records)
    assert {"evt_ok1", "evt_ok2", "evt_ok3"} <= set(ids)
    assert len(ids) == 153
    assert max(ids.values()) == 1
    for key, record in records:
        segments = dict(s.split("=", 1) for s in key.split("/")[1:-1])
        assert unquote(segments["workspace"]) == odd_name == record["workspace"]
        assert set(segments) == {"event_date", "workspace"}, key
        assert len(key.split("/")) == 4, key  # no value added or removed a path segment
    original = {e["id"]: e for e in good_events}
    for _, record in records:
        if record["id"] in original:
            assert {k: record[k] for k in original[record["id"]]} == original[record["id"]]
    quarantined = quarantine(live_stack)
    assert sorted(q["reason"] for q in quarantined) == [
        "record has no id",
        "record has no readable timestamp",
    ]
    assert by_name[odd_name]["events_quarantined"] == 2


def quarantine(stack) -> list[dict]:
    s3 = stack.session.client("s3")
    rows = []
    for key in stack.s3_keys("quarantine/"):
        body = gzip.decompress(s3.get_object(Bucket="leadlex-export-test", Key=key)["Body"].read())
        rows += [json.loads(line) for line in body.splitlines()]
    return rows


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ("{not json " + GOOD, "not valid JSON"),
        (json.dumps({"workspace": [{"name": "a", "api_key": GOOD}]}), '{"workspaces": [ ... ]}'),
        ("", "empty"),
    ],
)
def test_an_invalid_secret_document_is_a_clear_error_that_never_prints_a_key(
    live_stack, sandbox, monkeypatch, document, problem
):
    live_stack.put_secret(document or " ")

    with pytest.raises(ConfigurationError) as caught:
        invoke(live_stack, sandbox, monkeypatch)

    assert problem in str(caught.value) or "empty" in str(caught.value)
    assert GOOD not in str(caught.value)
    assert "g" * 20 not in repr(caught.value)


def test_the_apis_clock_is_compared_with_ours_and_a_gap_is_reported(
    live_stack, sandbox, monkeypatch, caplog
):
    world = sandbox.world
    world.add_workspace("acme", api_key=GOOD, plan="org")
    world.add_campaign("acme", "cmp_a", status="active")
    end = world.clock.now() - timedelta(minutes=6)
    world.bulk_events("cmp_a", 150, end - timedelta(days=2), end, seed=5)
    live_stack.put_secret({"workspaces": [{"name": "acme", "api_key": GOOD}]})

    in_step = invoke(live_stack, sandbox, monkeypatch)
    assert in_step["status"] == "ok", in_step
    assert abs(in_step["workspaces"][0]["api_clock_skew_seconds"]) <= 2
    assert not [r for r in caplog.records if "clock" in r.getMessage()]

    world.clock.advance(7 * 60)  # the API's clock now runs 7 minutes ahead of the function's
    ahead = invoke(live_stack, sandbox, monkeypatch)

    assert ahead["status"] == "ok", ahead
    assert ahead["workspaces"][0]["api_clock_skew_seconds"] == pytest.approx(420, abs=2)
    warnings = [r for r in caplog.records if "clock" in r.getMessage()]
    assert [vars(w)["api_clock_ahead_seconds"] for w in warnings] == [pytest.approx(420, abs=2)]
    assert warnings[0].levelname == "WARNING"
    assert vars(warnings[0])["workspace"] == "acme"
    ids = Counter(r["id"] for _, r in live_stack.records())
    assert len(ids) == 150
    assert max(ids.values()) == 1
