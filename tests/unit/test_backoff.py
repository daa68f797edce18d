"""The pause before a retry doubles from the first up to the cap, half of it jittered."""

from __future__ import annotations

import pytest

from leadlex_common.backoff import jittered_backoff


@pytest.mark.parametrize(
    ("failures", "ceiling"), [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 4.0), (30, 4.0)]
)
def test_the_pause_is_between_half_the_ceiling_and_the_ceiling(failures: int, ceiling: float):
    def pause(jitter: float) -> float:
        return jittered_backoff(failures, first=0.5, cap=4.0, jitter=lambda: jitter)

    assert pause(0.0) == ceiling / 2
    assert pause(0.5) == ceiling * 3 / 4
    assert ceiling / 2 <= pause(0.999) < ceiling
