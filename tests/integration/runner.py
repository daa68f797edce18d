"""One schedule tick in its own process, for the crash and overlap suites: the dispatcher,
then the work queue drained into the worker (scripts/event_source.py), as on AWS.

    python -m tests.integration.runner [--kill-at N] [--seconds S] [--clock-offset SECONDS]

The exporter's environment comes from the parent (AWS_ENDPOINT_URL, EXPORT_BUCKET, ...).
`--kill-at N` sends SIGKILL to this process right before its Nth AWS call: no cleanup, no
`finally`, like a Lambda sandbox that dies. `--clock-offset` runs the exporter's clock ahead,
so a recovery run can start "after the deadline" without waiting for it.
The last line printed is the run summary as JSON (unless killed).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
from datetime import datetime, timedelta
from typing import Any

import boto3

from leadlex_exporter.clock import SystemClock
from leadlex_exporter.key_export import KeyExport
from leadlex_exporter.settings import Settings
from scripts.event_source import local_tick


class OffsetClock(SystemClock):
    def __init__(self, offset_seconds: float):
        self.offset = timedelta(seconds=offset_seconds)

    def now(self) -> datetime:
        return super().now() + self.offset


def session_that_dies_at(kill_at: int) -> tuple[boto3.session.Session, dict[str, int]]:
    """A session whose Nth AWS call (`kill_at`, 0: never) SIGKILLs this process first, with
    no `finally` run; and the count of its calls so far."""
    session = boto3.session.Session()
    calls = {"n": 0}

    def count_and_maybe_die(**_: Any) -> None:
        calls["n"] += 1
        if kill_at and calls["n"] >= kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    session.events.register("before-call.*.*", count_and_maybe_die)
    return session, calls


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kill-at", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=900)
    parser.add_argument("--clock-offset", type=float, default=0)
    args = parser.parse_args()
    session, calls = session_that_dies_at(args.kill_at)
    clock = OffsetClock(args.clock_offset)
    settings = Settings.from_env(os.environ)
    result = local_tick(settings, clock, session, KeyExport(settings, clock, session), args.seconds)
    result["aws_calls"] = calls["n"]
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
