"""Promise 8: memory does not grow with the backlog (the script prints the figures)."""

from __future__ import annotations

import pytest

from scripts.memory_peak import measure


def test_peak_rss_stays_flat_as_a_backfill_triples():
    small, large = measure(15_000), measure(45_000)

    assert small["exported"] == 15_000
    assert large["exported"] == 45_000
    assert large["peak_rss_mb"] < 256
    assert large["peak_rss_mb"] - small["peak_rss_mb"] < 25, (small, large)


@pytest.mark.slow
def test_a_300000_event_backfill_peaks_under_256_mb():
    result = measure(300_000)

    assert result["exported"] == 300_000
    assert result["peak_rss_mb"] < 256, result
