"""`python -m sim` (`make simulate`): simulated UTC days, the table on stdout and in
docs/simulation.md.

    python -m sim                          every workload, policies even and greedy
    python -m sim --workloads starter,pro  some of them
    python -m sim --no-write               print only
"""

from __future__ import annotations

import argparse
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sim.figures import Figures

QUIET = {
    "POWERTOOLS_LOG_LEVEL": "ERROR",  # a greedy day logs a warning per starved run
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_SERVICE_NAME": "leadlex-exporter",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim", description=__doc__)
    # org (2,000 campaigns) needs more memory than moto in one process allows here: ask for it
    parser.add_argument("--workloads", default="starter,pro,agency")
    parser.add_argument("--policies", default="even,greedy")
    parser.add_argument("--seed", type=int, default=7)
    interval = int(os.environ.get("RUN_INTERVAL_MINUTES", "15"))
    parser.add_argument("--interval", type=int, default=interval, help="minutes between runs")
    parser.add_argument("--out", type=Path, default=Path("docs/simulation.md"))
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--jobs", type=int, default=1, help="days simulated side by side")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an exporter setting (MAX_POLL_INTERVAL_MINUTES=180) or a planner constant "
        "(planner.HOT_WEIGHT=20), to try; repeatable",
    )
    args = parser.parse_args(argv)
    for name, value in QUIET.items():
        os.environ.setdefault(name, value)  # before the exporter's loggers exist

    from sim.report import render, write

    days = [(n, p) for n in args.workloads.split(",") for p in args.policies.split(",")]
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(one_day, n, p, args.seed, args.interval, args.set) for n, p in days]
        rows = [future.result() for future in futures]
    command = "make simulate" + (f" (seed {args.seed})" if args.seed != 7 else "")
    if args.set:
        command = f"python -m sim --set {' --set '.join(args.set)}"
    text = render(rows, args.interval * 60.0, command)
    print(text)
    if not args.no_write:
        write(args.out, text)
    return 0


def one_day(workload: str, policy: str, seed: int, interval: int, overrides: list[str]) -> Figures:
    """One simulated day in its own process (moto and the sandbox are per process)."""
    for name, value in QUIET.items():
        os.environ.setdefault(name, value)
    from leadlex_exporter import planner
    from sim.day import simulate
    from sim.figures import figures
    from sim.workloads import WORKLOADS

    env = {}
    for item in overrides:
        name, _, value = item.partition("=")
        if name.startswith("planner."):
            setattr(planner, name.removeprefix("planner."), float(value))  # this process only
        else:
            env[name] = value
    outcome = simulate(WORKLOADS[workload], policy, seed=seed, interval_minutes=interval, env=env)
    print(
        f"{workload} {policy}: {outcome.wall_seconds:.0f} s wall, {len(outcome.ticks)} runs",
        file=sys.stderr,
        flush=True,
    )
    return figures(outcome)


if __name__ == "__main__":
    raise SystemExit(main())
