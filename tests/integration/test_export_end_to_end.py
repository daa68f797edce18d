"""The handler over real HTTP (sandbox) and real AWS APIs (moto server): promises 1, 3, 5, 9."""

from __future__ import annotations

import gzip
import io
import json
import math
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import duckdb
import pytest
from leadlex_sandbox import generate_world

from tests.integration.conftest import invoke

KEYS = {"acme": "wbk_acme_" + "A1b2" * 13, "beta-co": "wbk_beta_" + "Z9y8" * 13}


@pytest.fixture
def seeded(live_stack, sandbox):
    created = generate_world(
        sandbox.world,
        seed=7,
        workspaces=list(KEYS.items()),
        campaigns_per_workspace=3,
        events_per_campaign=260,
        days=20,
    )
    live_stack.put_secret({"workspaces": [{"name": n, "api_key": k} for n, k in KEYS.items()]})
    return created


def exported(stack) -> Counter:
    return Counter((r["workspace"], r["campaign_id"], r["id"]) for _, r in stack.records())


def test_a_run_exports_every_settled_event_exactly_once_at_the_lower_bound_of_calls(
    live_stack, sandbox, seeded, monkeypatch
):
    start = datetime.now(UTC)
    result = invoke(live_stack, sandbox, monkeypatch)

    assert result["status"] == "ok", result
    got = exported(live_stack)
    assert max(got.values()) == 1
    expected_calls = 0
    for workspace, campaigns in seeded.items():
        for campaign in campaigns:
            truth = sandbox.truth(campaign, start - timedelta(minutes=5))
            status = sandbox.world._campaign(campaign).status
            if status == "draft":
                continue  # drafts are skipped
            assert {(workspace, campaign, i) for i in truth} <= set(got), campaign
            expected_calls += max(1, math.ceil(len(sandbox.truth(campaign, start)) / 100))
    assert sandbox.event_calls() == expected_calls


def test_second_run_is_idle_and_costs_one_call_per_campaign(
    live_stack, sandbox, seeded, monkeypatch
):
    invoke(live_stack, sandbox, monkeypatch)
    sandbox.world.reset_stats()
    time.sleep(1.1)  # a later tick: windows end on whole seconds

    result = invoke(live_stack, sandbox, monkeypatch)

    listed = sum(1 for c in sandbox.world.stats()["calls"] if c["path"] == "/v1/campaigns")
    non_draft = sum(
        1 for cs in seeded.values() for c in cs if sandbox.world._campaign(c).status != "draft"
    )
    assert result["status"] == "ok"
    assert sandbox.event_calls() == non_draft
    assert listed == len(KEYS)


def test_late_events_arrive_once(live_stack, sandbox, seeded, monkeypatch):
    invoke(live_stack, sandbox, monkeypatch)
    campaign = next(c for c in seeded["acme"] if sandbox.world._campaign(c).status != "draft")
    now = sandbox.world.clock.now()
    late = [
        {
            "id": f"evt_late_{i}",
            "type": "replied",
            "contact_id": "c1",
            "email": "a@b.co",
            "step_id": "step_2",
            "timestamp": (now - timedelta(minutes=9, seconds=i * 20)).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ),
            "metadata": {"snippet": "late"},
        }
        for i in range(3)
    ]
    sandbox.world.add_events(campaign, late, visible_at=now + timedelta(seconds=1))
    time.sleep(1.2)
    invoke(live_stack, sandbox, monkeypatch)
    invoke(live_stack, sandbox, monkeypatch)

    got = exported(live_stack)
    assert all(got[("acme", campaign, e["id"])] == 1 for e in late)
    assert max(got.values()) == 1


def test_records_name_their_export_time_and_run_and_notifications_match_the_schema(
    live_stack, sandbox, seeded, monkeypatch
):
    def stamp(instant: datetime) -> str:
        return instant.strftime("%Y-%m-%dT%H:%M:%SZ")

    first_start = datetime.now(UTC)
    first = invoke(live_stack, sandbox, monkeypatch)
    first_end = datetime.now(UTC)
    campaign = next(c for c in seeded["acme"] if sandbox.world._campaign(c).status != "draft")
    now = sandbox.world.clock.now()
    late = {
        "id": "evt_late_stamped",
        "type": "replied",
        "contact_id": "c1",
        "email": "a@b.co",
        "step_id": "step_2",
        "timestamp": stamp(now - timedelta(minutes=9)),
        "metadata": {"snippet": "late"},
    }
    sandbox.world.add_events(campaign, [late], visible_at=now + timedelta(seconds=1))
    time.sleep(1.2)
    second_start = datetime.now(UTC)
    second = invoke(live_stack, sandbox, monkeypatch)
    second_end = datetime.now(UTC)

    assert first["status"] == second["status"] == "ok", (first, second)
    records = [r for _, r in live_stack.records()]
    by_run: dict[str, list[dict]] = {}
    for record in records:
        by_run.setdefault(record["export_run"], []).append(record)
    assert set(by_run) <= {*first["run_ids"], *second["run_ids"]}
    for run_id, (start, end) in [
        *((r, (first_start, first_end)) for r in first["run_ids"]),
        *((r, (second_start, second_end)) for r in second["run_ids"]),
    ]:
        for record in by_run.get(run_id, []):
            assert stamp(start) <= record["exported_at"] <= stamp(end), (run_id, record)
    (exported_late,) = [r for r in records if r["id"] == late["id"]]
    assert exported_late["export_run"] in second["run_ids"]
    assert len(records) - 1 == sum(len(by_run.get(r, [])) for r in first["run_ids"])
    # Every message on the queue matches docs/schemas/notification.schema.json (live_stack
    # checks each one it reads).
    bodies = [json.loads(m["Body"]) for m in live_stack.messages()]
    assert bodies
    assert {b["schema_version"] for b in bodies} == {1}
    assert late["id"] in {b["event_id"] for b in bodies}


def test_exported_files_read_back_with_duckdb_by_hive_partition(
    live_stack, sandbox, seeded, monkeypatch, tmp_path
):
    invoke(live_stack, sandbox, monkeypatch)
    s3 = live_stack.session.client("s3")
    for key in live_stack.s3_keys("events/"):
        target = tmp_path / key
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(s3.get_object(Bucket="leadlex-export-test", Key=key)["Body"].read())

    rows = duckdb.sql(f"""
        select event_date, id, "timestamp", type, metadata
        from read_json('{tmp_path}/events/*/*/*.jsonl.gz', format='newline_delimited',
                       hive_partitioning=true, union_by_name=true)
    """).fetchall()

    assert len(rows) == sum(exported(live_stack).values())
    for event_date, _, timestamp, _, _ in rows:
        day = timestamp.astimezone(UTC).date() if isinstance(timestamp, datetime) else timestamp
        assert str(event_date) == str(day)[:10]


def test_api_keys_never_leave_the_secret(live_stack, sandbox, seeded, monkeypatch, capfd):
    from leadlex_exporter.worker import logger

    sandbox.world.revoke_key("beta-co")  # errors and logs mention this workspace
    buffer = io.StringIO()
    previous = logger.registered_handler.setStream(buffer)
    logger.setLevel("DEBUG")
    try:
        invoke(live_stack, sandbox, monkeypatch)
    finally:
        logger.setLevel("WARNING")
        logger.registered_handler.setStream(previous)

    captured = capfd.readouterr()
    logs = buffer.getvalue() + captured.out + captured.err
    assert "workspace failed" in logs
    assert "beta-co" in logs
    places = [logs]
    s3 = live_stack.session.client("s3")
    for key in live_stack.s3_keys():
        body = s3.get_object(Bucket="leadlex-export-test", Key=key)["Body"].read()
        places.append(key + gzip.decompress(body).decode("utf-8", "replace"))
    places += [json.dumps(m, default=str) for m in live_stack.messages()]
    places += [json.dumps(i, default=str) for i in live_stack.items()]
    secret_tail = [k[9:] for k in KEYS.values()]
    for place in places:
        for key, tail in zip(KEYS.values(), secret_tail, strict=True):
            assert key not in place
            assert tail not in place
