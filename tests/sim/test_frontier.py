"""sim.frontier's chance of a day meeting both targets under random poll phases."""

from __future__ import annotations

import random

from sim.frontier import _chance

TARGETS = (3600.0, 3 * 3600.0)


def test_polling_at_every_run_meets_both_targets_on_every_draw():
    events = [("a", 100.0 * n) for n in range(50)]
    assert _chance({"a": 1 / 900}, events, TARGETS, random.Random(1)) == 1.0


def test_one_event_polled_every_ten_hours_waits_an_hour_or_less_a_tenth_of_the_time():
    chance = _chance({"a": 1 / 36_000}, [("a", 50_000.0)], TARGETS, random.Random(1))
    assert 0.04 < chance < 0.17, chance


def test_the_tail_fails_a_day_the_median_alone_would_pass():
    # 19 events of a campaign polled every run, 2 of one polled every 8 hours: the median is
    # always met; the p95 (the 20th of 21) only when both late ones wait 3 hours or less
    events = [("fast", 1_000.0 * n) for n in range(19)] + [("slow", 40_000.0), ("slow", 40_001.0)]
    rates = {"fast": 1 / 900, "slow": 1 / 28_800}
    chance = _chance(rates, events, TARGETS, random.Random(3))
    assert 0.28 < chance < 0.47, chance  # 3 h of 8
