"""`python -m bench.sandbox SPEC.json`: the LeadLex sandbox seeded for the benchmark.

SPEC is `{"workspaces": [{"name", "api_key", "campaigns": {"<id>": <events>, ...}}]}`. Events
come from `World.bulk_events`, spread over the 30 days that end 10 minutes before now, so every
one is old enough to be exported by the first run and an idle run finds nothing new. Keys are
on the org plan with limits high enough that no quota or pacing throttles the measurement.
Prints `LISTENING <base_url>` once seeded, then serves until SIGTERM or SIGINT.

BENCH_API_LATENCY_MS (default 0): every API request waits that long before it is answered, like
the real API over the internet (the server answers requests on threads of their own).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
import zlib
from datetime import timedelta
from pathlib import Path

from leadlex_sandbox import Clock, SandboxServer, World

DAILY_LIMIT = 100_000
PER_MINUTE_LIMIT = 100_000


def build_world(spec: dict[str, object]) -> World:
    world = World(Clock())
    end = world.clock.now() - timedelta(minutes=10)
    start = end - timedelta(days=30)
    for workspace in spec["workspaces"]:  # type: ignore[attr-defined]
        world.add_workspace(
            workspace["name"],
            workspace["api_key"],
            plan="org",
            daily_limit=DAILY_LIMIT,
            per_minute_limit=PER_MINUTE_LIMIT,
        )
        for campaign_id, events in workspace["campaigns"].items():
            world.add_campaign(workspace["name"], campaign_id)
            world.bulk_events(
                campaign_id, events, start, end, seed=zlib.crc32(campaign_id.encode())
            )
    return world


def main(argv: list[str]) -> int:
    world = build_world(json.loads(Path(argv[0]).read_text(encoding="utf-8")))
    latency = float(os.environ.get("BENCH_API_LATENCY_MS", "0")) / 1000
    if latency > 0:
        world.on_request(lambda *_: time.sleep(latency))
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with SandboxServer(world) as server:
        print(f"LISTENING {server.base_url}", flush=True)
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
