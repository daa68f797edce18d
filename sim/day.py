"""One workload under one policy: the sandbox world, moto, and the exporter run once per tick
of the schedule on the shared virtual clock, through the real tick: the dispatcher, the work
queue's event source and the worker (scripts.event_source.local_tick)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools.utilities import parameters
from leadlex_sandbox.world import World

from sim.activity import Arrival
from sim.aws import sim_stack
from sim.clock import VirtualClock
from sim.objects import list_objects
from sim.transport import Call, CallRecord, SandboxTransport, http_factory
from sim.workloads import DAY, TAIL, Scenario, Workload, build

DAY_D = datetime(2026, 11, 3, tzinfo=UTC)  # the measured day (a Tuesday)
LAMBDA_TIMEOUT = timedelta(seconds=900)  # template.yaml's Timeout: each run's deadline
WORKER_CONCURRENCY = 5  # template.yaml's MaxWorkerConcurrency default
# a first sync reads this much history (a setting users have): the warm-up days are for first
# syncs and learning, not for loading the weeks an active campaign has run
BACKFILL_DAYS = "1"
# before D: a Starter key's day of history takes a little over a day at HISTORY_SHARE_PERCENT
# (10 calls a day), so that D is a day with no first sync left (`--warmup 0` measures the day of
# a deployment instead)
WARMUP = 2 * DAY


@dataclass
class Tick:
    scheduled: float  # Unix seconds, virtual
    started: float
    ended: float
    workspaces: list[dict[str, Any]]  # the run summary's, per workspace
    stopped_early: str | None


class Slots:
    """The work queue's event source runs up to `count` workers side by side; locally they run
    one after another, so each key's run is put on its own time line: it starts on the virtual
    clock when a slot frees (at first, the tick's start) and its slot is taken until it ends.
    The tick ends when the last slot does. Keys share nothing that time orders (quota, lease,
    plan and checkpoints are per key), and each key's time only moves forward."""

    def __init__(self, clock: VirtualClock, count: int, export: Any) -> None:
        self.clock, self.export = clock, export
        self.free = [clock.now()] * count

    def __call__(self, work: Any, time_left: Any) -> Any:
        slot = min(range(len(self.free)), key=lambda n: self.free[n])
        self.clock.set_to(self.free[slot])
        try:
            return self.export(work, time_left)
        finally:
            self.free[slot] = self.clock.now()

    def end(self) -> datetime:
        return max(self.free)


@dataclass
class Outcome:
    workload: Workload
    policy: str
    start: datetime  # of the measured window
    end: datetime
    interval: float  # seconds between ticks
    scenario: Scenario
    seed: int = 7
    landed: dict[tuple[str, str], float] = field(default_factory=dict)
    duplicates: int = 0
    calls: list[Call] = field(default_factory=list)
    ticks: list[Tick] = field(default_factory=list)
    objects: list[tuple[str, int]] = field(default_factory=list)  # (key, size) at the end
    put_keys: set[str] = field(default_factory=set)  # every event object PUT during the run
    wall_seconds: float = 0.0

    def measured(self) -> list[Arrival]:
        """The events that became visible in the API during the measured window."""
        return [a for a in self.scenario.live if self.start <= a.visible_at < self.end]


def simulate(
    workload: Workload,
    policy: str,
    *,
    seed: int = 7,
    day: datetime = DAY_D,
    hours: float = 24,
    warmup: timedelta = WARMUP,
    interval_minutes: int = 15,
    env: dict[str, str] | None = None,
    at_midnight: Callable[[datetime, list[tuple[str, int]]], None] | None = None,
) -> Outcome:
    """Ticks from `day - warmup` to the end of the measured window [day, day + hours), then on
    until every event of the window has landed (at most TAIL more). The export prefix's
    objects (key, size) are listed at the end, and before each tick at 00:00 UTC inside the
    window for `at_midnight` (progress of a long run)."""
    from leadlex_exporter.key_export import KeyExport
    from leadlex_exporter.settings import Settings  # after the caller set the log level
    from scripts.event_source import local_tick

    began = time.perf_counter()
    clock = VirtualClock(day - warmup)
    world = World(clock)
    end = day + timedelta(hours=hours)
    scenario = build(world, workload, seed, day, max(end, day + DAY), start=day - warmup)
    outcome = Outcome(workload, policy, day, end, interval_minutes * 60.0, scenario, seed)
    waiting = {a.key for a in outcome.measured()}
    record = CallRecord()
    factory = http_factory(SandboxTransport(world, record))
    with sim_stack(clock, scenario.secret) as stack:
        settings = Settings.from_env(
            {
                **stack.env(),
                "LEADLEX_API_URL": "https://sandbox.sim/functions/v1/api-gateway",
                "RUN_INTERVAL_MINUTES": str(interval_minutes),
                "POLL_PLANNING": policy,
                "BACKFILL_DAYS": BACKFILL_DAYS,
                **(env or {}),
            }
        )
        secrets = parameters.SecretsProvider(boto3_client=stack.session.client("secretsmanager"))

        def listing() -> list[tuple[str, int]]:
            s3 = stack.session.client("s3")
            return list_objects(s3, stack.env()["EXPORT_BUCKET"], settings.export_prefix)

        scheduled = clock.now()
        while scheduled < end + TAIL and (scheduled < end or waiting):
            clock.move_to(scheduled)
            if at_midnight and day < scheduled < end and (scheduled - day) % DAY == timedelta(0):
                at_midnight(scheduled, listing())
            started = clock.now()
            export = KeyExport(settings, clock, stack.session, factory, secrets)
            slots = Slots(clock, WORKER_CONCURRENCY, export)
            summary = local_tick(
                settings, clock, stack.session, slots, LAMBDA_TIMEOUT.total_seconds()
            )
            clock.set_to(max(slots.end(), clock.now()))
            for at, key in stack.landings.take():
                if key in outcome.landed:
                    outcome.duplicates += 1
                else:
                    outcome.landed[key] = at
                    waiting.discard(key)
            outcome.ticks.append(
                Tick(
                    scheduled.timestamp(),
                    started.timestamp(),
                    clock.now().timestamp(),
                    summary["workspaces"],
                    summary["stopped_early"],
                )
            )
            scheduled += timedelta(minutes=interval_minutes)
        outcome.objects = listing()
        outcome.put_keys = stack.landings.keys
    outcome.calls = record.calls
    outcome.wall_seconds = time.perf_counter() - began
    return outcome
