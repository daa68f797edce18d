"""`python -m sim` (`make simulate`): simulated UTC days, the table on stdout and in
docs/simulation.md.

    python -m sim                          every workload, policies even and greedy
    python -m sim --workloads starter,pro  some of them
    python -m sim --no-write               print only
    python -m sim --workloads starter --seeds 7-14
                                           a day per seed, and on how many the Starter
                                           targets were met (the page's seeds section)
    python -m sim --workloads starter --policies even --days 30
                                           30 measured days, and the objects per partition
                                           at the end (printed only)
    python -m sim --workloads starter --warmup 0 --set BACKFILL_DAYS=0 --no-write
                                           a deployment at the measured day's 00:00, its
                                           first syncs reading all history that day
"""

from __future__ import annotations

import argparse
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta
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
    # org (2,000 campaigns): moto copies the checkpoint table at every transaction, a day takes
    # more than 50 minutes here; ask for it
    parser.add_argument("--workloads", default="starter,pro,org,agency")
    parser.add_argument("--policies", default="even,greedy")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--seeds",
        type=_seeds,
        default=None,
        metavar="7-14",
        help="several days of each workload, one per seed (a range or a list); the table per "
        "seed and the Starter targets met per seed go between the page's seeds markers",
    )
    interval = int(os.environ.get("RUN_INTERVAL_MINUTES", "15"))
    parser.add_argument("--interval", type=int, default=interval, help="minutes between runs")
    parser.add_argument("--out", type=Path, default=Path("docs/simulation.md"))
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--jobs", type=int, default=1, help="days simulated side by side")
    parser.add_argument(
        "--days",
        type=int,
        default=None,
        help="measure this many UTC days (default one) and report the export prefix's objects "
        "per partition at the end; printed only, docs/simulation.md is left as it is",
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=48.0,
        help="hours simulated before the measured day (0: the exporter is deployed at its "
        "00:00 and its first syncs fall in the measured day)",
    )
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

    from sim.report import SEEDS_BEGIN, SEEDS_END, objects_section, render, seeds, write

    given = " ".join(argv if argv is not None else sys.argv[1:])
    command = f"python -m sim {given}".strip()
    seed_list = args.seeds or [args.seed]
    days = [
        (n, p, s)
        for n in args.workloads.split(",")
        for p in args.policies.split(",")
        for s in seed_list
    ]
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = [
            pool.submit(one_day, n, p, s, args.interval, args.set, args.days, args.warmup)
            for n, p, s in days
        ]
        rows = [future.result() for future in futures]
    if args.seeds:
        text = seeds(rows, command)
        print(text)
        if not args.no_write:
            write(args.out, text, (SEEDS_BEGIN, SEEDS_END))
        return 0
    text = render(rows, args.interval * 60.0, command)
    if args.days is not None:
        text += f"\nObjects per partition at the end:\n\n{objects_section(rows)}"
    print(text)
    if not args.no_write and args.days is None:
        write(args.out, text)
    return 0


def _seeds(text: str) -> list[int]:
    """A range, 7-14, or a list, 7,9,11."""
    if "-" in text:
        first, _, last = text.partition("-")
        return list(range(int(first), int(last) + 1))
    return [int(part) for part in text.split(",")]


def one_day(
    workload: str,
    policy: str,
    seed: int,
    interval: int,
    overrides: list[str],
    days: int | None = None,
    warmup_hours: float = 48.0,
) -> Figures:
    """One simulation (a day, or `days`) in its own process (moto and the sandbox are per
    process)."""
    for name, value in QUIET.items():
        os.environ.setdefault(name, value)
    from leadlex_exporter import planner
    from sim.day import DAY_D, simulate
    from sim.figures import figures
    from sim.objects import object_figures, size_spread
    from sim.workloads import WORKLOADS

    def progress(at: datetime, objects: list[tuple[str, int]]) -> None:
        done = object_figures(objects, DAY_D.date(), at.date())
        median, p95, top = done.per_partition
        low, mid, high = size_spread(done.closed_sizes)
        print(
            f"{workload} {policy}: {at:%Y-%m-%d}, {len(objects)} objects; closed partitions "
            f"{len(done.closed)}, objects per partition median {median:g} p95 {p95} max {top}; "
            f"their bytes min {low} median {mid:g} max {high}; per partition "
            f"{[p.count for p in done.closed]}",
            file=sys.stderr,
            flush=True,
        )

    env = {}
    for item in overrides:
        name, _, value = item.partition("=")
        if name.startswith("planner."):
            attribute = name.removeprefix("planner.")
            parsed: object = float(value)
            if isinstance(getattr(planner, attribute), tuple):  # planner.EXPONENTS=0.3,0.4
                parsed = tuple(float(part) for part in value.split(","))
            setattr(planner, attribute, parsed)  # this process only
        else:
            env[name] = value
    outcome = simulate(
        WORKLOADS[workload],
        policy,
        seed=seed,
        hours=24 * (days or 1),
        warmup=timedelta(hours=warmup_hours),
        interval_minutes=interval,
        env=env,
        at_midnight=progress if days else None,
    )
    print(
        f"{workload} {policy}: {outcome.wall_seconds:.0f} s wall, {len(outcome.ticks)} runs",
        file=sys.stderr,
        flush=True,
    )
    return figures(outcome)


if __name__ == "__main__":
    raise SystemExit(main())
