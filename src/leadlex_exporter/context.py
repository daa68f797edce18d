"""What one run shares with every campaign it syncs."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from leadlex_exporter.checkpoints import CheckpointStore
from leadlex_exporter.clock import Clock, Deadline
from leadlex_exporter.notify_sqs import SqsNotifier
from leadlex_exporter.settings import Settings
from leadlex_exporter.sink_s3 import S3Sink

SKEW_ALLOWANCE = timedelta(minutes=10)  # the widest a window grows for the API's clock


@dataclass
class RunContext:
    settings: Settings
    run_id: str
    window_end: datetime  # to_date of every window this run opens (run start, whole second)
    deadline: Deadline
    clock: Clock
    store: CheckpointStore
    sink: S3Sink
    notifier: SqsNotifier
    _groups: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def next_group_id(self) -> str:
        """Unique to this run; with the run id, unique to the bucket (object keys use it)."""
        return f"{self.run_id}-{next(self._groups):05d}"

    @property
    def lookback(self) -> timedelta:
        """How long recent ids are kept behind the watermark: the configured lookback plus
        the most a window may be widened for an API clock behind ours (window_lookback)."""
        return timedelta(minutes=self.settings.lookback_minutes) + SKEW_ALLOWANCE

    def window_lookback(self, api_behind_seconds: float) -> timedelta:
        """How far a fresh window starts before the watermark. Windows end on our clock and
        events carry the API's: an API clock behind ours by S makes a late event look S
        older, so the window reaches back S further (up to SKEW_ALLOWANCE)."""
        behind = timedelta(seconds=min(max(0.0, api_behind_seconds), SKEW_ALLOWANCE.seconds))
        return timedelta(minutes=self.settings.lookback_minutes) + behind


@dataclass
class CampaignStats:
    exported: int = 0
    notified: int = 0
    quarantined: int = 0
    duplicates_skipped: int = 0
    pages: int = 0
    commits: int = 0
    recovered: int = 0
