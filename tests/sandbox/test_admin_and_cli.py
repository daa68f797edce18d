"""The /_admin endpoints and `python -m leadlex_sandbox` as `make demo` uses them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from leadlex_sandbox import Clock, SandboxServer, World

from tests.sandbox.helpers import ACME_KEY, CAMPAIGN, MakeEvent, bearer

SANDBOX_SRC = Path(__file__).resolve().parents[2] / "sandbox"


@pytest.fixture
def admin(server: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.admin_url, timeout=10) as client:
        yield client


def test_admin_adds_late_events_and_moves_the_clock(
    admin: httpx.Client, api: httpx.Client, clock: Clock, make_event: MakeEvent
) -> None:
    event = make_event("2026-04-17T10:00:00Z", id="evt_admin")
    added = admin.post(
        "/events", json={"campaign_id": CAMPAIGN, "events": [event], "visible_after_seconds": 30}
    )
    hidden = api.get(f"/v1/campaigns/{CAMPAIGN}/events").json()["meta"]["total"]
    moved = admin.post("/clock", json={"offset_seconds": 31})

    shown = api.get(f"/v1/campaigns/{CAMPAIGN}/events").json()["data"]["events"]

    assert added.status_code == 201
    assert hidden == 0
    assert moved.json()["offset_seconds"] == 31 == clock.offset_seconds
    assert shown == [event]


def test_admin_faults_stats_and_reset(admin: httpx.Client, api: httpx.Client) -> None:
    armed = admin.post("/faults", json={"kind": "status", "status": 502, "path_regex": "events"})
    api.get("/v1/campaigns")
    faulted = api.get(f"/v1/campaigns/{CAMPAIGN}/events")

    stats = admin.get("/stats").json()
    reset = admin.post("/reset-stats")

    assert armed.status_code == 201
    assert faulted.status_code == 502
    assert stats["by_workspace"]["acme"] == {"total": 2, "events": 1, "campaigns": 1}
    assert reset.status_code == 200
    assert admin.get("/stats").json()["calls"] == []


def test_admin_rejects_bad_input(admin: httpx.Client) -> None:
    assert admin.post("/faults", json={"kind": "explode"}).status_code == 400
    assert admin.post("/faults", content=b"{not json").status_code == 400
    assert admin.post("/events", json={"campaign_id": "cmp_x", "events": []}).status_code == 404
    assert admin.get("/nothing").status_code == 404


def test_server_never_logs_the_key(world: World, capfd: pytest.CaptureFixture[str]) -> None:
    with SandboxServer(world, verbose=True) as loud:
        httpx.get(loud.base_url + "/v1/campaigns", headers=bearer(ACME_KEY))
        httpx.get(loud.base_url + "/v1/nowhere", headers=bearer(ACME_KEY))

    logged = capfd.readouterr()
    assert "/v1/campaigns" in logged.err
    assert ACME_KEY not in logged.out + logged.err


def test_cli_prints_listening_serves_seeded_data_and_stops_on_sigterm(tmp_path: Path) -> None:
    spec = [
        {
            "name": "acme",
            "api_key": "wbk_cli_acme",
            "plan": "pro",
            "campaigns": 3,
            "events_per_campaign": 120,
        },
        {
            "name": "globex",
            "api_key": "wbk_cli_globex",
            "plan": "starter",
            "campaigns": 1,
            "events_per_campaign": 10,
        },
    ]
    spec_file = tmp_path / "workspaces.json"
    spec_file.write_text(json.dumps(spec))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SANDBOX_SRC), os.environ.get("PYTHONPATH", "")]),
    }
    command = [
        sys.executable,
        "-m",
        "leadlex_sandbox",
        "--port",
        "0",
        "--seed",
        "42",
        "--workspaces-json",
        str(spec_file),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    try:
        line = process.stdout.readline() if process.stdout else ""
        assert line.startswith("LISTENING http://127.0.0.1:")
        base_url = line.split()[1]
        with httpx.Client(base_url=base_url, headers=bearer("wbk_cli_acme"), timeout=10) as api:
            campaigns = api.get("/v1/campaigns").json()["data"]["campaigns"]
            first = api.get(f"/v1/campaigns/{campaigns[0]['id']}/events").json()
        assert [c["status"] for c in campaigns].count("draft") == 1
        assert first["meta"]["total"] == 120
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    assert process.stdout is not None
    assert process.stdout.read() == ""
