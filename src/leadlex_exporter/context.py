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
        return timedelta(minutes=self.settings.lookback_minutes)


@dataclass
class CampaignStats:
    exported: int = 0
    notified: int = 0
    quarantined: int = 0
    duplicates_skipped: int = 0
    pages: int = 0
    commits: int = 0
    recovered: int = 0
