"""Daily quota and per-minute pacing of one API key, remembered across invocations.

`X-RateLimit-*` headers describe the daily quota (reset at 00:00 UTC). Backfills stop at the
reserve plus a share kept for fresh events, so later runs of the same day can still export what
is new; fresh syncs stop at the reserve. While the quota is known to be spent, no call is made.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from leadlex_exporter.clock import Clock, Deadline


class Purpose(Enum):
    FRESH = "fresh"  # campaign lists and windows of new events
    BACKFILL = "backfill"  # the first sync of a campaign: history, newest first


@dataclass
class QuotaState:
    limit: int | None = None
    remaining: int | None = None
    reset_at: float | None = None  # Unix seconds of the next reset
    exhausted: bool = False  # a 429 with Remaining 0 was seen
    last_run_at: float | None = None  # start of the last run that used this key
    interval: float | None = None  # seconds between runs, as observed
    api_behind: float = 0.0  # seconds the API's clock ran behind ours, when last measured


def per_minute_for(limit: int | None) -> int:
    """The plan's per-minute limit, inferred from its daily limit (docs: 10/50/200)."""
    if limit is None or limit <= 100:
        return 10
    return 50 if limit <= 1000 else 200


HISTORY_MIN_PERCENT = 2  # of the quota: history's least share when fresh polls need the rest


class QuotaGuard:
    def __init__(
        self,
        state: QuotaState,
        clock: Clock,
        *,
        reserve_percent: int,
        fresh_reserve_percent: int,
        history_share_percent: int = 10,
        max_calls_per_minute: int = 0,
        interval_seconds: float | None = None,
    ):
        self.state = state
        self.clock = clock
        self.reserve_percent = reserve_percent
        self.fresh_reserve_percent = fresh_reserve_percent
        self.history_share_percent = history_share_percent
        self.max_calls_per_minute = max_calls_per_minute
        self.interval_seconds = interval_seconds  # the schedule's, else learnt between runs
        self.calls = 0
        self.fresh_calls_per_run = 0  # one call per campaign, plus list pages
        # the fresh polls the rest of the day needs to keep every campaign within the maximum
        # poll interval (the planner's count); history leaves them, all but HISTORY_MIN_PERCENT
        self.bound_calls = 0
        self._recent_calls: deque[float] = deque()
        self._lock = threading.Lock()
        self._note_run_start()

    def _note_run_start(self) -> None:
        now = self.clock.now().timestamp()
        last = self.state.last_run_at
        if last is not None and 30 <= now - last <= 86_400:
            self.state.interval = now - last
        self.state.last_run_at = now

    def _roll_over(self) -> None:
        state = self.state
        if state.reset_at is not None and self.clock.now().timestamp() >= state.reset_at:
            self.state = QuotaState(
                limit=state.limit,
                last_run_at=state.last_run_at,
                interval=state.interval,
                api_behind=state.api_behind,
            )

    def floor(self, purpose: Purpose) -> int:
        """How many calls must stay unused for this purpose.

        Fresh syncs keep only the reserve. A backfill also leaves what the fresh syncs of the
        rest of the day could use (every campaign at every run left before the reset, the
        schedule's interval or the one learnt between runs), at least FRESH_RESERVE_PERCENT,
        and all but HISTORY_SHARE_PERCENT of the quota at most: fresh polls come first (on a
        Starter key they could use every call, and a first day spent half on history was half
        as fresh), and a backlog still moves forward every day. Where the maximum poll interval
        needs more of the day (`bound_calls`: 200 campaigns on Pro the day they are first
        synced), history leaves that too, down to HISTORY_MIN_PERCENT.
        """
        limit = self.state.limit or 0
        reserve = max(
            math.ceil(limit * self.reserve_percent / 100), 1 if self.reserve_percent else 0
        )
        if purpose is Purpose.FRESH:
            return reserve
        share = math.ceil(limit * self.fresh_reserve_percent / 100)
        state, now = self.state, self.clock.now().timestamp()
        interval = self.interval_seconds or state.interval
        if interval and state.reset_at and self.fresh_calls_per_run:
            runs_left = math.ceil(max(0.0, state.reset_at - now) / interval)
            history = math.ceil(limit * self.history_share_percent / 100)
            wanted = self.fresh_calls_per_run * runs_left
            share = max(share, min(wanted, limit - reserve - history))
        if self.bound_calls:
            least = math.ceil(limit * HISTORY_MIN_PERCENT / 100)
            share = max(share, min(self.bound_calls, limit - reserve - least))
        return reserve + share

    def allows(self, purpose: Purpose) -> bool:
        self._roll_over()
        if self.state.exhausted:
            return False
        remaining = self.state.remaining
        return remaining is None or remaining > self.floor(purpose)

    def can_spare(self, calls: int, purpose: Purpose) -> bool:
        """Whether `calls` more calls for `purpose` can be spent now rather than after every
        campaign's fresh calls: they leave its floor untouched with a whole run's fresh calls
        (`fresh_calls_per_run`) kept on top, and they fit in this minute's pacing, so no fresh
        call waits for them (the run's fresh calls not made yet count as this minute's: lanes
        run side by side, and another's newest page may not have gone out yet). No when the
        quota is unknown."""
        self._roll_over()
        remaining = self.state.remaining
        if self.state.exhausted or remaining is None:
            return False
        with self._lock:
            this_minute = self._calls_this_minute(self.clock.now().timestamp())
            pending = max(0, self.fresh_calls_per_run - self.calls)
        if this_minute + pending + calls > self._per_minute_cap():
            return False
        return remaining - calls > self.floor(purpose) + self.fresh_calls_per_run

    def observe(self, headers: Mapping[str, str]) -> None:
        """Record a response's X-RateLimit-* headers (invalid values are ignored)."""
        limit = _int(headers.get("x-ratelimit-limit"))
        remaining = _int(headers.get("x-ratelimit-remaining"))
        reset_at = _int(headers.get("x-ratelimit-reset"))
        with self._lock:
            self._observe(limit, remaining, reset_at)

    def _observe(self, limit: int | None, remaining: int | None, reset_at: int | None) -> None:
        state = self.state
        if remaining is not None:
            # Answers to calls made at once arrive in any order: within one day and plan the
            # quota only goes down, so an answer that says more is older news. A new reset time
            # (a new day) or a new limit (another plan) starts again from what it says.
            same_day_and_plan = (reset_at is None or float(reset_at) == state.reset_at) and (
                limit is None or limit == state.limit
            )
            if same_day_and_plan and state.remaining is not None:
                remaining = min(remaining, state.remaining)
            state.remaining = remaining
        if limit is not None:
            state.limit = limit
        if reset_at is not None:
            state.reset_at = float(reset_at)
        elif remaining is not None and state.reset_at is None:
            # The docs put the reset at 00:00 UTC; without the header, a quota seen must still
            # roll over then rather than hold this day's count forever.
            state.reset_at = _next_midnight(self.clock.now().timestamp())

    def mark_exhausted(self, reset_at: float | None) -> None:
        self.state.exhausted = True
        self.state.remaining = 0
        if reset_at is not None:
            self.state.reset_at = reset_at
        elif self.state.reset_at is None:
            self.state.reset_at = _next_midnight(self.clock.now().timestamp())

    def wait_for_slot(self, deadline: Deadline) -> None:
        """Pace calls below the per-minute limit (80% of the plan's, unless configured).
        Thread-safe: calls made at once wait for their slots in turn."""
        with self._lock:
            self._wait_for_slot(deadline)

    def _per_minute_cap(self) -> int:
        return self.max_calls_per_minute or max(1, int(per_minute_for(self.state.limit) * 0.8))

    def _calls_this_minute(self, now: float) -> int:
        """Calls made in the minute before `now` (older ones are let go); under the lock."""
        while self._recent_calls and self._recent_calls[0] <= now - 60:
            self._recent_calls.popleft()
        return len(self._recent_calls)

    def _wait_for_slot(self, deadline: Deadline) -> None:
        cap = self._per_minute_cap()
        now = self.clock.now().timestamp()
        if self._calls_this_minute(now) >= cap:
            wait = self._recent_calls[0] + 60 - now
            deadline.check(wait)
            self.clock.sleep(wait)
        self._recent_calls.append(self.clock.now().timestamp())
        self.calls += 1


def _int(value: str | None) -> int | None:
    try:
        return int(float(value)) if value is not None else None
    except ValueError:
        return None


def _next_midnight(now: float) -> float:
    return (math.floor(now / 86_400) + 1) * 86_400.0
