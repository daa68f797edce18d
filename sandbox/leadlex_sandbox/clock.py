"""The sandbox clock: real UTC time plus a settable offset, shared by quota, visibility and seed."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class Clock:
    """Real time shifted by `offset_seconds`; tests move it instead of sleeping."""

    def __init__(self, offset_seconds: float = 0.0) -> None:
        self._offset = float(offset_seconds)
        self._lock = threading.Lock()

    @property
    def offset_seconds(self) -> float:
        return self._offset

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self._offset)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += float(seconds)

    def set_offset(self, seconds: float) -> None:
        with self._lock:
            self._offset = float(seconds)

    def move_to(self, moment: datetime) -> None:
        """Shift the offset so that now() is `moment` (time keeps flowing from there)."""
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        with self._lock:
            self._offset = (moment - datetime.now(UTC)).total_seconds()
