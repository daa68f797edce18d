"""Peak RSS of one first sync (backfill) of a single campaign with N events.

    python -m scripts.memory_peak 300000 [60000 ...]

For each N: a fresh local stack, then the exporter in its own process; prints the peak RSS
(VmHWM) of that process and the events it exported. The sizes are the issue's: the
promise is a peak under 256 MB for 300,000 events, flat as the backlog grows.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys

from scripts.local_stack import local_stack

KEY = "wbk_memory_" + "m" * 44


def peak_rss_kb() -> int:
    """This process's own high-water mark. Not ru_maxrss: Linux carries that across fork and
    exec, so a small child of a large parent would report the parent's peak."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child() -> None:
    """Runs inside the measured process: one invocation, then the peak RSS."""
    import boto3

    from leadlex_exporter.clock import SystemClock
    from leadlex_exporter.key_export import KeyExport
    from leadlex_exporter.settings import Settings
    from scripts.event_source import local_tick

    clock = SystemClock()
    settings = Settings.from_env(os.environ)
    session = boto3.session.Session()
    result = local_tick(settings, clock, session, KeyExport(settings, clock, session), 7200)
    peak_mb = peak_rss_kb() / 1024
    exported = sum(w["events_exported"] for w in result["workspaces"])
    print(
        json.dumps(
            {
                "peak_rss_mb": round(peak_mb, 1),
                "exported": exported,
                "status": result["status"],
            }
        ),
        flush=True,
    )


def measure(events: int) -> dict[str, float]:
    spec = [
        {
            "name": "acme",
            "api_key": KEY,
            "plan": "org",
            "campaigns": 1,
            "events_per_campaign": events,
            "daily_limit": 1_000_000,
            "per_minute_limit": 1_000_000,
        }
    ]
    with local_stack(spec, days=150) as stack:
        env = {
            **os.environ,
            **stack.env(
                MAX_CALLS_PER_MINUTE="100000",
                NOTIFY_EVENT_TYPES="",
                POWERTOOLS_LOG_LEVEL="WARNING",
                POWERTOOLS_METRICS_DISABLED="true",
            ),
        }
        done = subprocess.run(
            [sys.executable, "-m", "scripts.memory_peak", "--child"],
            env=env,
            capture_output=True,
            text=True,
            timeout=3600,
            check=False,
        )
    if done.returncode != 0:
        raise SystemExit(f"the measured run failed:\n{done.stderr[-3000:]}")
    out = done.stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    result["events"] = events
    return result


def main() -> None:
    if sys.argv[1:] == ["--child"]:
        child()
        return
    for size in [int(a) for a in sys.argv[1:]] or [300_000]:
        print(json.dumps(measure(size)), flush=True)


if __name__ == "__main__":
    main()
