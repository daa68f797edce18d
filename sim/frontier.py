"""`python -m sim.frontier`: the best a periodic poll schedule could do on a simulated day; what
the planner, which learns the rates from its polls, is measured against.

For each seed: the workload's events counted per campaign, poll rates proportional to
weight ** a (a from 0 to 1, the planner's weights and clamps, and optionally a shorter cap on
the interval), and the clicks' and replies' median and p95 predicted (planner.quantile); the
rates whose larger ratio to the targets is least are printed, with the chance that the day's
own clicks and replies meet both targets: every campaign polled at its rate (rounded to the
15-minute schedule) from a random phase, PHASES draws per seed.

The rates come from the measured day's own counts (`--knows day`: hindsight, a bound no
planner reaches) or from the two days before it (`--knows before`: what a planner could have
learned).

    python -m sim.frontier --workload starter --seeds 7-30 --calls 91 --knows before
"""

from __future__ import annotations

import argparse
import math
import random
from datetime import timedelta

from leadlex_sandbox.world import World

from leadlex_exporter import planner
from sim.clock import VirtualClock
from sim.day import DAY_D
from sim.figures import _rank
from sim.workloads import DAY, WORKLOADS, build

DAY_SECONDS = 86_400.0
TICK = 900.0  # the schedule's interval: a poll happens at a run
CAPS_HOURS = (None, 5.0, 4.5, 4.0, 3.5, 3.0, 2.5)  # None: MAX_POLL_INTERVAL less the slack
PHASES = 300


def best(
    workload: str, seed: int, calls: float, targets: tuple[float, float], knows: str
) -> tuple[str, float]:
    """The line printed for a seed, and the chance that its day meets both targets."""
    learned = 2 * DAY if knows == "before" else timedelta(0)
    world = World(VirtualClock(DAY_D - learned))
    scenario = build(world, WORKLOADS[workload], seed, DAY_D, DAY_D + DAY, start=DAY_D - learned)
    every: dict[str, float] = dict.fromkeys(scenario.specs, 0.0)
    hot = dict(every)
    events = []  # the day's clicks and replies: (campaign, seconds into the day)
    for arrival in scenario.live:
        measured = DAY_D <= arrival.visible_at < DAY_D + DAY
        if measured and arrival.hot:
            events.append((arrival.campaign_id, (arrival.visible_at - DAY_D).total_seconds()))
        counted = not measured if knows == "before" else measured
        if counted and arrival.visible_at < DAY_D + DAY:
            share = DAY / learned if knows == "before" else 1.0  # a day's worth
            every[arrival.campaign_id] += share
            hot[arrival.campaign_id] += share * arrival.hot
    weights = {
        cid: (hot[cid] + (every[cid] - hot[cid]) / planner.HOT_WEIGHT) / DAY_SECONDS
        + planner.IDLE_RATE
        for cid in every
    }
    arrivals = {cid: hot[cid] / DAY_SECONDS + planner.HOT_PRIOR for cid in every}
    bound = timedelta(minutes=360) - timedelta(minutes=15) * planner.BOUND_SLACK_RUNS
    tried = []
    for cap in CAPS_HOURS:
        longest = bound.total_seconds() if cap is None else cap * 3600
        if len(every) / longest >= calls / DAY_SECONDS:
            continue
        for exponent in [step / 20 for step in range(21)]:
            rates = planner._fill(weights, calls / DAY_SECONDS, 1 / longest, 1 / TICK, exponent)
            p50 = planner.quantile(arrivals, rates, 0.5)
            p95 = planner.quantile(arrivals, rates, 0.95)
            score = max(p50 / targets[0], p95 / targets[1])
            tried.append((score, exponent, cap, p50, p95, rates))
    score, exponent, cap, p50, p95, rates = min(tried, key=lambda item: item[:2])
    chance = _chance(rates, events, targets, random.Random(seed))
    capped = "the maximum interval" if cap is None else f"{cap:g} h"
    line = (
        f"seed {seed}: {len(events)} clicked+replied; best a = {exponent:g}, interval "
        f"at most {capped}: median {p50 / 60:.0f} min, p95 {p95 / 3600:.2f} h, score "
        f"{score:.2f}; both met with chance {chance:.2f}"
    )
    return line, chance


def _chance(
    rates: dict[str, float],
    events: list[tuple[str, float]],
    targets: tuple[float, float],
    rng: random.Random,
) -> float:
    """Of PHASES draws of every campaign's poll phase, the share where the day's events meet
    both targets (nearest-rank median and p95 of their waits)."""
    if not events:
        return 1.0
    periods = {cid: max(TICK, round(1 / rate / TICK) * TICK) for cid, rate in rates.items()}
    met = 0
    for _ in range(PHASES):
        phase = {cid: rng.uniform(0, period) for cid, period in periods.items()}
        waits = sorted(
            phase[cid] + math.ceil((at - phase[cid]) / periods[cid]) * periods[cid] - at
            for cid, at in events
        )
        met += _rank(waits, 0.5) <= targets[0] and _rank(waits, 0.95) <= targets[1]
    return met / PHASES


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m sim.frontier", description=__doc__)
    parser.add_argument("--workload", default="starter")
    parser.add_argument("--seeds", default="7-30")
    parser.add_argument("--calls", type=float, default=91.0, help="polls a day")
    parser.add_argument("--knows", choices=("day", "before"), default="day")
    parser.add_argument("--p50", type=float, default=60.0, help="minutes")
    parser.add_argument("--p95", type=float, default=180.0, help="minutes")
    args = parser.parse_args()
    first, _, last = args.seeds.partition("-")
    seeds = range(int(first), int(last or first) + 1)
    days = 0.0
    for seed in seeds:
        line, chance = best(
            args.workload, seed, args.calls, (args.p50 * 60, args.p95 * 60), args.knows
        )
        days += chance
        print(line, flush=True)
    print(f"days expected to meet both targets: {days:.1f} of {len(seeds)}")


if __name__ == "__main__":
    main()
