"""The issue's workloads, scaled by BENCH_SCALE, and the API-call lower bound of each."""

from __future__ import annotations

import math
from dataclasses import dataclass

PER_PAGE = 100


@dataclass(frozen=True)
class Workload:
    name: str
    title: str
    workspace: str
    api_key: str
    campaigns: dict[str, int]  # campaign id -> events
    idle: bool = False  # a second run over the same campaigns: nothing new

    @property
    def events(self) -> int:
        return 0 if self.idle else sum(self.campaigns.values())

    @property
    def lower_bound(self) -> int:
        """Event calls (ceil(N/100), at least 1; one per campaign when idle) plus list pages."""
        pages = math.ceil(len(self.campaigns) / PER_PAGE)
        if self.idle:
            return len(self.campaigns) + pages
        return sum(max(1, math.ceil(n / PER_PAGE)) for n in self.campaigns.values()) + pages


def workloads(scale: float) -> list[Workload]:
    """a/10 (the flatness check), a, b and c = idle over b, in the order they run."""

    def key(name: str) -> str:
        return f"wbk_bench_{name}_" + "0" * 40

    big, small = max(1, round(300_000 * scale)), max(1, round(30_000 * scale))
    many = {f"cmp_b{i:04d}": 1_000 for i in range(max(1, round(200 * scale)))}
    b = Workload("b", f"{len(many)} campaigns x 1,000", "bench-b", key("b"), many)
    return [
        Workload(
            "a/10", f"1 campaign, {small:,} events", "bench-a10", key("a10"), {"cmp_a10": small}
        ),
        Workload("a", f"1 campaign, {big:,} events", "bench-a", key("a"), {"cmp_a": big}),
        b,
        Workload("c", f"idle, {len(many)} campaigns", b.workspace, b.api_key, many, idle=True),
    ]


def sandbox_spec(items: list[Workload]) -> dict[str, object]:
    spaces: dict[str, dict[str, object]] = {}
    for w in items:
        spaces[w.workspace] = {"name": w.workspace, "api_key": w.api_key, "campaigns": w.campaigns}
    return {"workspaces": list(spaces.values())}
