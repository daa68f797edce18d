"""Time as a collaborator: the real clock in Lambda, a fake one in tests."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol

from leadlex_exporter.errors import OutOfTimeError


class Clock(Protocol):
    def now(self) -> datetime: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))


class Deadline:
    """The invocation's end (its start plus what the Lambda context gave it), minus a margin."""

    # A margin never takes more than this share of the time given: with a 20 s timeout, a
    # 45 s margin would stop every run before its first call.
    MAX_MARGIN_SHARE = 0.25

    def __init__(self, clock: Clock, ends_at: datetime, margin_seconds: float):
        self.clock = clock
        self.ends_at = ends_at
        given = (ends_at - clock.now()).total_seconds()
        self.configured_margin = margin_seconds
        self.margin_seconds = min(margin_seconds, max(0.0, given * self.MAX_MARGIN_SHARE))

    def seconds_left(self) -> float:
        return (self.ends_at - self.clock.now()).total_seconds() - self.margin_seconds

    def check(self, needed_seconds: float = 0.0) -> None:
        """Raise OutOfTimeError unless `needed_seconds` still fit before the margin."""
        if self.seconds_left() < needed_seconds:
            raise OutOfTimeError("the invocation's deadline is too close to start another step")
