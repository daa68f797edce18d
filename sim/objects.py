"""Objects per partition: what the export prefix holds at the end of a simulation, by
(event_date, workspace), as the layout of sink_s3.py names them
(`<export>/event_date=YYYY-MM-DD/workspace=<name>/part-<run>-<group>.jsonl.gz`).

The figures are for *closed* days: the event dates from the first measured day up to, not
including, the last one (the last day's partition may still grow). Partitions of earlier dates
(the history that the warm-up day's first syncs wrote) are counted apart."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import unquote

Partition = tuple[str, str]  # (event_date, workspace)


@dataclass(frozen=True)
class PartitionObjects:
    event_date: str
    workspace: str
    sizes: tuple[int, ...]  # bytes, ascending

    @property
    def count(self) -> int:
        return len(self.sizes)


@dataclass(frozen=True)
class ObjectFigures:
    partitions: list[PartitionObjects]  # every partition, by date then workspace
    closed: list[PartitionObjects]  # of the closed measured days
    earlier: list[PartitionObjects]  # dates before the first measured day (backfill)
    total: int  # objects under the export prefix

    @property
    def per_partition(self) -> tuple[float, int, int]:
        """Objects per closed partition: median, p95 (nearest rank), max."""
        return count_spread([p.count for p in self.closed])

    @property
    def closed_sizes(self) -> list[int]:
        return sorted(s for p in self.closed for s in p.sizes)


def list_objects(s3: Any, bucket: str, prefix: str) -> list[tuple[str, int]]:
    """(key, size) of every object under `prefix/`."""
    out: list[tuple[str, int]] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}/"):
        out.extend((o["Key"], int(o["Size"])) for o in page.get("Contents", []))
    return out


def partition_of(key: str) -> Partition | None:
    """(event_date, workspace) from an event object's key; None for anything else."""
    values = {}
    for segment in key.split("/")[:-1]:
        name, sep, value = segment.partition("=")
        if sep:
            values[name] = unquote(value)
    if "event_date" not in values or "workspace" not in values:
        return None
    return values["event_date"], values["workspace"]


def object_figures(
    objects: Iterable[tuple[str, int]], first_day: date, last_day: date
) -> ObjectFigures:
    """Partitions of `objects`; closed: event dates in [first_day, last_day)."""
    sizes: dict[Partition, list[int]] = defaultdict(list)
    total = 0
    for key, size in objects:
        total += 1
        partition = partition_of(key)
        if partition is not None:
            sizes[partition].append(size)
    partitions = [PartitionObjects(d, w, tuple(sorted(s))) for (d, w), s in sorted(sizes.items())]
    first, last = first_day.isoformat(), last_day.isoformat()
    return ObjectFigures(
        partitions=partitions,
        closed=[p for p in partitions if first <= p.event_date < last],
        earlier=[p for p in partitions if p.event_date < first],
        total=total,
    )


def count_spread(counts: list[int]) -> tuple[float, int, int]:
    """Median, p95 (nearest rank) and max; NaN and zeros when there is nothing."""
    if not counts:
        return math.nan, 0, 0
    ordered = sorted(counts)
    p95 = ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]
    return statistics.median(ordered), p95, ordered[-1]


def median_of(values: list[int]) -> float:
    return statistics.median(values) if values else math.nan


def size_spread(sizes: list[int]) -> tuple[int, float, int]:
    """Min, median, max bytes."""
    if not sizes:
        return 0, math.nan, 0
    return min(sizes), statistics.median(sizes), max(sizes)
