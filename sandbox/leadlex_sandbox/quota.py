"""Per-workspace rate limits: a daily quota reset at 00:00 UTC and fixed 60 s windows.

Only the daily quota is visible in the X-RateLimit-* headers, as on the real API.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from datetime import date

from leadlex_sandbox.clock import Clock
from leadlex_sandbox.models import Workspace
from leadlex_sandbox.timestamps import next_midnight


@dataclass
class _Counters:
    day: date | None = None
    day_used: int = 0
    minute: int = -1
    minute_used: int = 0


@dataclass(frozen=True)
class QuotaVerdict:
    admitted: bool
    limit: int
    remaining: int
    reset: int  # Unix seconds of the next 00:00 UTC
    retry_after: int | None = None  # set when not admitted

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
        }


class QuotaBook:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._counters: dict[str, _Counters] = {}
        self._lock = threading.Lock()

    def admit(self, workspace: Workspace) -> QuotaVerdict:
        """Consume one call if both limits allow it; otherwise say how long to wait."""
        now = self._clock.now()
        reset = int(next_midnight(now).timestamp())
        epoch = now.timestamp()
        with self._lock:
            counters = self._current(workspace.name, now.date(), int(epoch // 60))
            if counters.day_used >= workspace.daily_limit:
                wait = max(1, math.ceil(reset - epoch))
                return QuotaVerdict(False, workspace.daily_limit, 0, reset, wait)
            remaining = workspace.daily_limit - counters.day_used
            if counters.minute_used >= workspace.per_minute_limit:
                wait = max(1, math.ceil(60 - epoch % 60))
                return QuotaVerdict(False, workspace.daily_limit, remaining, reset, wait)
            counters.day_used += 1
            counters.minute_used += 1
            return QuotaVerdict(True, workspace.daily_limit, remaining - 1, reset)

    def peek(self, workspace: Workspace | None) -> QuotaVerdict:
        """The daily quota as it stands, without consuming (for 401s and faults)."""
        now = self._clock.now()
        reset = int(next_midnight(now).timestamp())
        if workspace is None:
            return QuotaVerdict(False, 0, 0, reset)
        with self._lock:
            counters = self._current(workspace.name, now.date(), int(now.timestamp() // 60))
            remaining = max(0, workspace.daily_limit - counters.day_used)
        return QuotaVerdict(False, workspace.daily_limit, remaining, reset)

    def _current(self, name: str, today: date, minute: int) -> _Counters:
        counters = self._counters.setdefault(name, _Counters())
        if counters.day != today:
            counters.day, counters.day_used = today, 0
        if counters.minute != minute:
            counters.minute, counters.minute_used = minute, 0
        return counters
