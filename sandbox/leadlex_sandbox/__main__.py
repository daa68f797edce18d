"""`python -m leadlex_sandbox`: a seeded sandbox server for `make demo` and subprocess tests.

Prints exactly one line, `LISTENING <base_url>`, then serves until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
from pathlib import Path
from typing import Any

from leadlex_sandbox.clock import Clock
from leadlex_sandbox.models import READ_SCOPE
from leadlex_sandbox.seed import DEFAULT_WORKSPACES, seed_workspace
from leadlex_sandbox.server import SandboxServer
from leadlex_sandbox.world import World


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m leadlex_sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--workspaces-json",
        type=Path,
        help=('file of [{"name", "api_key", "plan", "campaigns", "events_per_campaign"}]'),
    )
    parser.add_argument("--days", type=int, default=30, help="seeded events span this many days")
    parser.add_argument(
        "--late-fraction",
        type=float,
        default=0.0,
        help="share of seeded events that only appear 1-30 minutes after start",
    )
    parser.add_argument("--verbose", action="store_true", help="log request lines to stderr")
    return parser.parse_args(argv)


def load_workspaces(path: Path | None) -> list[dict[str, Any]]:
    if path is None:
        return [{"name": name, "api_key": key} for name, key in DEFAULT_WORKSPACES]
    specs = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(specs, list) or not all(isinstance(s, dict) for s in specs):
        raise SystemExit(f"{path}: expected a JSON list of workspace objects")
    return specs


def build_world(args: argparse.Namespace) -> World:
    world = World(Clock())
    for spec in load_workspaces(args.workspaces_json):
        world.add_workspace(
            spec["name"],
            spec["api_key"],
            plan=spec.get("plan", "pro"),
            scopes=spec.get("scopes", (READ_SCOPE,)),
            daily_limit=spec.get("daily_limit"),
            per_minute_limit=spec.get("per_minute_limit"),
        )
        seed_workspace(
            world,
            spec["name"],
            seed=args.seed,
            campaigns=spec.get("campaigns", 3),
            events_per_campaign=spec.get("events_per_campaign", 500),
            days=args.days,
            late_fraction=spec.get("late_fraction", args.late_fraction),
        )
    return world


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    world = build_world(args)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with SandboxServer(world, args.host, args.port, verbose=args.verbose) as server:
        print(f"LISTENING {server.base_url}", flush=True)
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
