"""One replay in its own process, for the crash suite: as the worker would run it, with the
workspace's key from the secret and the key's quota memory loaded and saved around it.

    python -m tests.integration.replay_runner WORKSPACE CAMPAIGN START END
        [--kill-at N] [--seconds S] [--clock-offset SECONDS] [--dry-run]

`--kill-at N` sends SIGKILL to this process right before its Nth AWS call (no `finally`).
The last line printed is the replay's result as JSON (unless killed).
"""

from __future__ import annotations

import argparse
import json
import os
from datetime import date, timedelta

from leadlex_exporter.leadlex import LeadLexClient, build_http_client
from leadlex_exporter.quota import QuotaGuard
from leadlex_exporter.replay import replay
from leadlex_exporter.runtime import new_run, read_workspaces
from leadlex_exporter.settings import Settings
from tests.integration.runner import OffsetClock, session_that_dies_at


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("workspace")
    parser.add_argument("campaign")
    parser.add_argument("start", type=date.fromisoformat)
    parser.add_argument("end", type=date.fromisoformat)
    parser.add_argument("--kill-at", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=900)
    parser.add_argument("--clock-offset", type=float, default=0)
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args()
    session, calls = session_that_dies_at(args.kill_at)
    clock = OffsetClock(args.clock_offset)
    settings = Settings.from_env(os.environ)
    run = new_run(settings, clock, clock.now() + timedelta(seconds=args.seconds), session)
    [workspace] = [w for w in read_workspaces(settings, session)[0] if w.name == args.workspace]
    guard = QuotaGuard(
        run.store.load_quota(workspace.key_fingerprint),
        clock,
        reserve_percent=settings.quota_reserve_percent,
        fresh_reserve_percent=settings.fresh_reserve_percent,
        max_calls_per_minute=settings.max_calls_per_minute,
    )
    http = build_http_client(settings.api_url, workspace.api_key, settings.http_timeout_seconds)
    with http:
        client = LeadLexClient(http, guard, run.deadline)
        result = replay(
            run, client, args.workspace, args.campaign, args.start, args.end, dry_run=args.dry_run
        )
    if not args.dry_run:
        ttl = int((clock.now() + timedelta(days=3)).timestamp())
        run.store.save_quota(workspace.key_fingerprint, guard.state, ttl)
    print(json.dumps({**result.to_json(), "aws_calls": calls["n"]}), flush=True)


if __name__ == "__main__":
    main()
