"""The pause before a retry: exponential, capped, with equal jitter."""

from __future__ import annotations

from collections.abc import Callable


def jittered_backoff(
    failures: int, *, first: float, cap: float, jitter: Callable[[], float]
) -> float:
    """Seconds to wait after `failures` failures in a row (1 or more): the ceiling doubles from
    `first` up to `cap`, and the pause is half of it plus a random share of the other half
    (jitter() in [0, 1)), so retries from many callers spread out but never come back at once."""
    ceiling = min(cap, first * 2.0 ** (failures - 1))
    return ceiling / 2 + ceiling / 2 * jitter()
