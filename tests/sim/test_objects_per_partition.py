"""Objects per partition (issue 15): the count of what the export prefix holds, on a listing
made by hand and at the end of two short simulated days."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import pytest

from sim.day import DAY_D, Outcome, simulate
from sim.figures import figures
from sim.objects import median_of, object_figures, partition_of, size_spread
from sim.workloads import Workload

PREFIX = "events"


def key(event_date: str, workspace: str, part: str) -> str:
    return f"{PREFIX}/event_date={event_date}/workspace={workspace}/part-{part}.jsonl.gz"


def test_objects_are_counted_per_date_and_workspace_and_closed_days_exclude_the_last():
    # Given a listing: a backfilled date, two closed days for two workspaces (one name
    # percent-encoded), the last, still open day, and an object outside the layout
    listing = [
        (key("2026-10-30", "acme", "r0-1"), 9_000),
        (key("2026-11-03", "acme", "r1-1"), 300),
        (key("2026-11-03", "acme", "r2-1"), 100),
        (key("2026-11-03", "acme", "r3-1"), 200),
        (key("2026-11-03", "beta%2Fco", "r1-2"), 50),
        (key("2026-11-04", "acme", "r5-1"), 700),
        (key("2026-11-04", "acme", "r6-1"), 500),
        (key("2026-11-05", "acme", "r9-1"), 40),
        (f"{PREFIX}/stray.json", 10),
    ]

    # When it is counted for the measured days 2026-11-03 to 2026-11-05
    counted = object_figures(listing, date(2026, 11, 3), date(2026, 11, 5))

    # Then each (event_date, workspace) has its objects, sizes ascending
    by_partition = {(p.event_date, p.workspace): p.sizes for p in counted.partitions}
    assert by_partition == {
        ("2026-10-30", "acme"): (9_000,),
        ("2026-11-03", "acme"): (100, 200, 300),
        ("2026-11-03", "beta/co"): (50,),
        ("2026-11-04", "acme"): (500, 700),
        ("2026-11-05", "acme"): (40,),
    }
    # And the closed days are 11-03 and 11-04, not the backfill nor the last day
    assert [(p.event_date, p.workspace, p.count) for p in counted.closed] == [
        ("2026-11-03", "acme", 3),
        ("2026-11-03", "beta/co", 1),
        ("2026-11-04", "acme", 2),
    ]
    assert [p.event_date for p in counted.earlier] == ["2026-10-30"]
    assert counted.per_partition == (2, 3, 3)  # median, p95 (nearest rank), max of 3, 1, 2
    assert counted.closed_sizes == [50, 100, 200, 300, 500, 700]
    assert size_spread(counted.closed_sizes) == (50, 250, 700)
    assert median_of([sum(p.sizes) for p in counted.closed]) == 600  # of 600, 50 and 1,200
    assert counted.total == 9


def test_a_key_outside_the_layout_has_no_partition():
    assert partition_of(key("2026-11-03", "a%3Db", "r1-1")) == ("2026-11-03", "a=b")
    assert partition_of(f"{PREFIX}/workspace=acme/part-r1-1.jsonl.gz") is None
    assert partition_of(f"{PREFIX}/event_date=2026-11-03/part-r1-1.jsonl.gz") is None


@pytest.fixture(scope="module")
def two_days() -> Outcome:
    # A small Starter key, hourly runs, 6 hours of warm-up, then two measured days
    tiny = Workload("starter", "starter", workspaces=1, campaigns=4, active=1)
    return simulate(tiny, "even", hours=48, warmup=timedelta(hours=6), interval_minutes=60)


def test_two_simulated_days_count_every_object_the_exporter_put(two_days):
    # When the figures of two measured days are taken from the bucket at the end
    counted = figures(two_days).objects

    # Then the listing holds exactly the event objects the exporter PUT
    assert sorted(k for k, _ in two_days.objects) == sorted(two_days.put_keys)
    assert counted.total == len(two_days.put_keys) > 0
    # And each partition's count is the PUTs under its event_date and workspace
    puts = Counter(
        (k.split("/")[1].removeprefix("event_date="), k.split("/")[2].removeprefix("workspace="))
        for k in two_days.put_keys
    )
    assert {(p.event_date, p.workspace): p.count for p in counted.partitions} == puts
    # And only the first measured day is closed (the second is the last one, still open)
    assert [(p.event_date, p.workspace) for p in counted.closed] == [
        (DAY_D.date().isoformat(), "starter-00")
    ]
    closed = counted.closed[0]
    # one group per run for so few campaigns: at most one object per date per run
    assert 1 <= closed.count <= len(two_days.ticks)
    assert counted.per_partition == (closed.count, closed.count, closed.count)
    sizes = sorted(s for k, s in two_days.objects if DAY_D.date().isoformat() in k)
    assert counted.closed_sizes == sizes
    assert sizes[0] > 0
