"""`python -m sim.frontier`: the best a periodic poll schedule could do on a simulated day if
it knew every campaign's true rates for the day in advance; what the planner, which learns the
rates from its polls, is measured against.

For each seed: the workload's events of D counted per campaign, poll rates proportional to
weight ** a (a from 0 to 1, the planner's weights and clamps, and optionally a shorter cap on
the interval), and the clicks' and replies' median and p95 predicted exactly
(planner.quantile); the rates whose larger ratio to the targets is least are printed.

    python -m sim.frontier --workload starter --seeds 7-14 --calls 91
"""

from __future__ import annotations

import argparse
from datetime import timedelta

from leadlex_sandbox.world import World

from leadlex_exporter import planner
from sim.clock import VirtualClock
from sim.day import DAY_D
from sim.workloads import DAY, WORKLOADS, build

DAY_SECONDS = 86_400.0
CAPS_HOURS = (None, 5.0, 4.5, 4.0, 3.5, 3.0, 2.5)  # None: MAX_POLL_INTERVAL less the slack


def best(workload: str, seed: int, calls: float, targets: tuple[float, float]) -> str:
    world = World(VirtualClock(DAY_D - DAY))
    scenario = build(world, WORKLOADS[workload], seed, DAY_D)
    every: dict[str, int] = dict.fromkeys(scenario.specs, 0)
    hot = dict(every)
    for arrival in scenario.live:
        if DAY_D <= arrival.visible_at < DAY_D + DAY:
            every[arrival.campaign_id] += 1
            hot[arrival.campaign_id] += arrival.hot
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
            rates = planner._fill(weights, calls / DAY_SECONDS, 1 / longest, 1 / 900, exponent)
            p50 = planner.quantile(arrivals, rates, 0.5)
            p95 = planner.quantile(arrivals, rates, 0.95)
            tried.append((max(p50 / targets[0], p95 / targets[1]), exponent, cap, p50, p95))
    score, exponent, cap, p50, p95 = min(tried, key=lambda item: item[:2])
    capped = "the maximum interval" if cap is None else f"{cap:g} h"
    return (
        f"seed {seed}: {sum(hot.values())} clicked+replied; best a = {exponent:g}, interval "
        f"at most {capped}: median {p50 / 60:.0f} min, p95 {p95 / 3600:.2f} h, score {score:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m sim.frontier", description=__doc__)
    parser.add_argument("--workload", default="starter")
    parser.add_argument("--seeds", default="7-14")
    parser.add_argument("--calls", type=float, default=91.0, help="polls a day")
    parser.add_argument("--p50", type=float, default=60.0, help="minutes")
    parser.add_argument("--p95", type=float, default=180.0, help="minutes")
    args = parser.parse_args()
    first, _, last = args.seeds.partition("-")
    for seed in range(int(first), int(last or first) + 1):
        print(best(args.workload, seed, args.calls, (args.p50 * 60, args.p95 * 60)), flush=True)


if __name__ == "__main__":
    main()
