"""The table: measured figures per workload and policy, the uniform-polling bound, and the
issue's targets, in markdown; `write` puts it between the markers of docs/simulation.md."""

from __future__ import annotations

import math
import re
from pathlib import Path

from leadlex_common.environment import default_of
from leadlex_exporter.settings import Settings
from sim.figures import HOUR, Figures, Spread
from sim.objects import median_of, size_spread
from sim.workloads import WORKLOADS, Workload

BEGIN, END = "<!-- simulate:begin -->", "<!-- simulate:end -->"
SEEDS_BEGIN, SEEDS_END = "<!-- seeds:begin -->", "<!-- seeds:end -->"
# QUOTA_RESERVE_PERCENT's default
RESERVE = float(default_of(Settings, "quota_reserve_percent")) / 100
MAX_INTERVAL = 6 * HOUR  # MAX_POLL_INTERVAL_MINUTES's default
HOT_P95, HOT_P50, MAX_429 = 3 * HOUR, 1 * HOUR, 3


def uniform_interval(workload: Workload, run_interval: float) -> float:
    """Round robin over a key's N campaigns with C = limit x (1 - reserve) calls a day:
    one poll per campaign every T = N x 86,400 / C seconds, never more often than the
    schedule runs. The campaign list is not counted."""
    usable = workload.daily_limit * (1 - RESERVE)
    return max(workload.campaigns * 86_400 / usable, run_interval)


def table(rows: list[Figures], run_interval: float) -> str:
    head = (
        "| Workload | Policy | Events (clicked+replied) | All: p50 / p95 / max | "
        "Clicked+replied: p50 / p95 / max | Hours silent (no call) | Calls / quota | 429 | "
        "Max poll gap: any / active | Keys due, no call | Wall |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for name in dict.fromkeys(r.workload for r in rows):
        group = [r for r in rows if r.workload == name]
        for r in group:
            lost = f", {r.not_landed} not landed" if r.not_landed else ""
            lines.append(
                f"| {r.title} | {r.policy} | {r.all.count} ({r.hot.count}){lost} | "
                f"{_spread(r.all)} | {_spread(r.hot)} | {r.hours_silent} ({r.hours_no_call})"
                f" of {r.hours} | {r.calls:,} / {r.quota:,} | {r.answers_429} | "
                f"{_h(r.max_gap)} / {_h(r.max_gap_active)} | {r.keys_due_unserved} | "
                f"{r.wall_seconds:.0f} s |"
            )
        bound = uniform_interval(WORKLOADS[name], run_interval)
        spread = f"{_h(bound / 2)} / {_h(0.95 * bound)} / {_h(bound)}"
        lines.append(
            f"| {group[0].title} | uniform bound | | {spread} | {spread} | | | | "
            f"{_h(bound)} / {_h(bound)} | | |"
        )
    return head + "\n".join(lines) + "\n"


def targets(rows: list[Figures]) -> str:
    out = []
    for r in rows:
        checks: list[tuple[str, bool]] = []
        if r.workload == "starter":
            checks = [(long, ok) for _, long, ok in _starter_checks(r)]
        elif r.workload == "pro":
            checks = [
                (f"max gap between polls {_h(r.max_gap)} <= 6 h", r.max_gap <= MAX_INTERVAL),
                (f"max gap opened during the day {_h(r.max_gap_inside)} <= 6 h",
                 r.max_gap_inside <= MAX_INTERVAL),
            ]  # fmt: skip
        elif r.workload == "agency":
            checks = [
                (f"{r.keys_stopped} (tick, key) left out by the deadline, {r.overruns} ticks "
                 "over the schedule: every key served every tick",
                 not r.keys_stopped and not r.overruns),
            ]  # fmt: skip
        for text, ok in checks:
            out.append(f"- {r.title}, `{r.policy}`: {text}: **{'met' if ok else 'not met'}**")
    return "\n".join(out) + "\n"


def details(rows: list[Figures]) -> str:
    lines = [
        "| Workload | Policy | Clicked+replied of active campaigns: p50 / p95 / max | "
        "Of finished campaigns | Campaign-list calls | Max gap opened during D | "
        "Backfilling at 00:00 | "
        "Runs over their tick | Keys left out by the deadline | Duplicates in S3 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.title} | {r.policy} | {_spread(r.hot_active)} ({r.hot_active.count}) | "
            f"{_spread(r.hot_finished)} ({r.hot_finished.count}) | {r.list_calls} | "
            f"{_h(r.max_gap_inside)} | "
            f"{r.backfilling} | {r.overruns} | {r.keys_stopped} | "
            f"{r.duplicates} |"
        )
    return "\n".join(lines) + "\n"


def render(rows: list[Figures], run_interval: float, command: str) -> str:
    return (
        f"Measured by `{command}`.\n\n{table(rows, run_interval)}\n"
        f"Targets (issue 14):\n\n{targets(rows)}\n{details(rows)}"
    )


def seeds(rows: list[Figures], command: str) -> str:
    """One workload's days under several seeds (different campaigns and events, the same
    kind of activity): per seed, the figures the Starter targets are about; then per policy,
    on how many seeds each target was met, and the staleness of every clicked or replied event
    of all those days pooled."""
    lines = [
        f"Measured by `{command}`.\n",
        "| Workload | Policy | Seed | Clicked+replied | Their p50 / p95 / max | All: p50 / p95 | "
        "Hours silent (no call) | Calls / quota | 429 | Starter targets |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        failed = [name for name, _, ok in _starter_checks(r) if not ok]
        verdict = "all met" if not failed else "not met: " + ", ".join(failed)
        lines.append(
            f"| {r.title} | {r.policy} | {r.seed} | {r.hot.count} | {_spread(r.hot)} | "
            f"{_h(r.all.p50)} / {_h(r.all.p95)} | {r.hours_silent} ({r.hours_no_call}) | "
            f"{r.calls:,} / {r.quota:,} | {r.answers_429} | {verdict} |"
        )
    lines.append("")
    for policy in dict.fromkeys(r.policy for r in rows):
        group = [r for r in rows if r.policy == policy]
        pooled = Spread.of([age for r in group for age in r.hot_ages])
        checks = [c for r in group for c in _starter_checks(r)]
        counts = ", ".join(
            f"{name} on {sum(ok for n, _, ok in checks if n == name)}"
            for name in dict.fromkeys(n for n, _, _ in checks)
        )
        every = sum(all(ok for _, _, ok in _starter_checks(r)) for r in group)
        lines.append(
            f"- `{policy}`, {len(group)} days: every target met on {every}; {counts}. "
            f"Clicked+replied of all {len(group)} days pooled ({pooled.count}): p50 "
            f"{_h(pooled.p50)}, p95 {_h(pooled.p95)}, max {_h(pooled.max)}."
        )
    return "\n".join(lines) + "\n"


def _starter_checks(r: Figures) -> list[tuple[str, str, bool]]:
    """The Starter targets of issue 14: (short name, the figure against it, met)."""
    return [
        ("p95 <= 3 h", f"clicked+replied p95 {_h(r.hot.p95)} <= 3 h", r.hot.p95 <= HOT_P95),
        ("median <= 1 h", f"clicked+replied median {_h(r.hot.p50)} <= 1 h", r.hot.p50 <= HOT_P50),
        ("no silent hour", f"{r.hours_silent} hours without exports while events arrive",
         not r.hours_silent),
        (f"429 <= {MAX_429}", f"{r.answers_429} answers 429 <= {MAX_429}",
         r.answers_429 <= MAX_429),
    ]  # fmt: skip


def write(path: Path, text: str, markers: tuple[str, str] = (BEGIN, END)) -> None:
    """Replace what stands between the markers (the rest of the page is written by hand)."""
    begin, end = markers
    page = path.read_text(encoding="utf-8") if path.exists() else ""
    if begin not in page:
        page += f"{begin}\n{end}\n"
    block = f"{begin}\n{text}{end}"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    path.write_text(pattern.sub(lambda _: block, page), encoding="utf-8")


def _spread(s: Spread) -> str:
    if not s.count:
        return "-"
    return f"{_h(s.p50)} / {_h(s.p95)} / {_h(s.max)}"


def _h(seconds: float) -> str:
    if math.isnan(seconds):
        return "-"
    if seconds < HOUR:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / HOUR:.1f} h"


def objects_section(rows: list[Figures]) -> str:
    """Objects per partition at the end of each simulation: a summary over the closed days,
    then every partition."""
    lines = [
        "| Workload | Policy | Closed days (partitions) | Objects per partition: median / p95 / "
        "max | Object bytes: min / median / max | Bytes per partition: median | "
        "Earlier dates: partitions (objects) | Objects in all |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        o = r.objects
        days = len({p.event_date for p in o.closed})
        median, p95, top = o.per_partition
        earlier = sum(p.count for p in o.earlier)
        lines.append(
            f"| {r.title} | {r.policy} | {days} ({len(o.closed)}) | {_num(median)} / {p95} / "
            f"{top} | {_bytes(size_spread(o.closed_sizes))} | "
            f"{_num(median_of([sum(p.sizes) for p in o.closed]))} | {len(o.earlier)} ({earlier}) | "
            f"{o.total:,} |"
        )
    out = "\n".join(lines) + "\n"
    for r in rows:
        out += (
            f"\n{r.title}, `{r.policy}`, every partition:\n\n"
            "| event_date | workspace | objects | bytes: min / median / max | bytes in all |\n"
            "|---|---|---|---|---|\n"
        )
        out += "".join(
            f"| {p.event_date} | {p.workspace} | {p.count} | {_bytes(size_spread([*p.sizes]))} | "
            f"{sum(p.sizes):,} |\n"
            for p in r.objects.partitions
        )
    return out


def _num(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:g}"


def _bytes(spread: tuple[int, float, int]) -> str:
    low, mid, high = spread
    return "-" if math.isnan(mid) else f"{low:,} / {mid:,.0f} / {high:,}"
