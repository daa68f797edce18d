"""The report's seeds section: per seed, the Starter targets met or not; per policy, how many
days met each, and every clicked or replied event of all days pooled."""

from __future__ import annotations

import math
from datetime import date

from sim.figures import HOUR, Figures, Spread
from sim.objects import object_figures
from sim.report import seeds


def day(seed: int, hot_ages: list[float], *, silent: int = 0, answers_429: int = 0) -> Figures:
    nothing = Spread(math.nan, math.nan, math.nan, 0)
    return Figures(
        workload="starter", title="Starter", policy="even", seed=seed,
        all=Spread.of(hot_ages), hot=Spread.of(hot_ages), hot_active=nothing,
        hot_finished=nothing, not_landed=0, duplicates=0, hours=24, hours_silent=silent,
        hours_no_call=0, calls=90, list_calls=4, quota=100, answers_429=answers_429,
        max_gap=0.0, max_gap_active=0.0, max_gap_inside=0.0, keys_due_unserved=0,
        keys_stopped=0, overruns=0, backfilling=0, wall_seconds=1.0,
        objects=object_figures([], date(2026, 11, 3), date(2026, 11, 4)), hot_ages=tuple(hot_ages),
    )  # fmt: skip


def test_each_seed_says_which_targets_it_missed_and_the_days_are_pooled():
    fresh = day(7, [0.2 * HOUR] * 10 + [2 * HOUR])
    slow_median = day(8, [1.5 * HOUR] * 10 + [2 * HOUR])
    long_tail = day(9, [0.5 * HOUR] * 10 + [5 * HOUR], silent=1, answers_429=4)

    text = seeds([fresh, slow_median, long_tail], "python -m sim --seeds 7-9")

    rows = {line.split("|")[3].strip(): line for line in text.splitlines() if line.startswith("|")}
    assert rows["7"].endswith("| all met |")
    assert "not met: median <= 1 h |" in rows["8"]
    assert "not met: p95 <= 3 h, no silent hour, 429 <= 3 |" in rows["9"]
    summary = next(line for line in text.splitlines() if line.startswith("- `even`"))
    assert "3 days: every target met on 1;" in summary
    assert "p95 <= 3 h on 2, median <= 1 h on 2, no silent hour on 2, 429 <= 3 on 2" in summary
    # 33 events pooled: ten of each day's fast ones and three slow ones
    assert "pooled (33): p50 30 min, p95 2.0 h, max 5.0 h" in summary
