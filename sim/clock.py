"""One virtual clock for the exporter and the sandbox: time moves only when the simulation
advances it between ticks, or when the exporter sleeps (pacing, Retry-After)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from leadlex_sandbox.clock import Clock as SandboxClock


class VirtualClock(SandboxClock):
    """Both clock protocols: the exporter's (now, sleep) and the sandbox's (now, advance...)."""

    def __init__(self, start: datetime) -> None:
        super().__init__()
        self._now = start.astimezone(UTC)
        self._moving = threading.Lock()
        self.slept = 0.0  # seconds the exporter spent sleeping, in all

    @property
    def offset_seconds(self) -> float:
        return (self._now - datetime.now(UTC)).total_seconds()

    def now(self) -> datetime:
        return self._now

    def sleep(self, seconds: float) -> None:
        with self._moving:
            self._now += timedelta(seconds=max(0.0, seconds))
            self.slept += max(0.0, seconds)

    def advance(self, seconds: float) -> None:
        with self._moving:
            self._now += timedelta(seconds=seconds)

    def move_to(self, moment: datetime) -> None:
        """Forward only: a tick scheduled before a long run's end starts when it ends."""
        with self._moving:
            self._now = max(self._now, moment.astimezone(UTC))

    def set_to(self, moment: datetime) -> None:
        """Either way: workers side by side each run on their own time line (sim.day.Slots),
        one key's never going back."""
        with self._moving:
            self._now = moment.astimezone(UTC)

    def set_offset(self, seconds: float) -> None:
        with self._moving:
            self._now = datetime.now(UTC) + timedelta(seconds=seconds)
