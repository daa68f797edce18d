"""A schedule tick on the local stack: the dispatcher, then the work queue drained into the
worker by the local event source mapping (leadlex_exporter.local_runner), with every worker's
run summary kept so a test or the demo can show what each did."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from leadlex_exporter.local_runner import EventSource, LambdaContext
from leadlex_exporter.summary import RunSummary
from leadlex_exporter.work_items import WorkItem

__all__ = ["EventSource", "LambdaContext", "Recorder", "local_tick", "tick_result"]


class Recorder:
    """Wraps the worker's export (worker.KeyExport) and keeps each run's summary, so a local
    tick can show what every worker did; the worker's own response is the batch response."""

    def __init__(self, export: Callable[[WorkItem, Any], RunSummary | None]):
        self.export = export
        self.summaries: list[RunSummary] = []
        self.skipped = 0  # items done without a run: the key was busy or left the secret

    def __call__(self, work: WorkItem, time_left: Any) -> RunSummary | None:
        summary = self.export(work, time_left)
        if summary is None:
            self.skipped += 1
        else:
            self.summaries.append(summary)
        return summary


def tick_result(
    dispatched: dict[str, Any], summaries: list[RunSummary], skipped: int = 0
) -> dict[str, Any]:
    """One tick as a whole: the dispatcher's result and every worker's summary, workspaces in
    the secret's order (a key's workspaces stay together)."""
    runs = [s.as_dict() for s in summaries]
    workspaces = [w for run in runs for w in run["workspaces"]]
    order = [name for item in dispatched["work_items"] for name in item["workspaces"]]
    workspaces.sort(key=lambda w: order.index(w["workspace"]) if w["workspace"] in order else 0)
    stopped = [run["stopped_early"] for run in runs if run["stopped_early"]]
    return {
        "status": "ok"
        if dispatched["status"] == "ok" and all(run["status"] == "ok" for run in runs)
        else "partial_failure",
        "run_ids": [run["run_id"] for run in runs],
        "stopped_early": "time" if "time" in stopped else (stopped[0] if stopped else None),
        "invalid_entries": dispatched["invalid_entries"],
        "work_items_skipped": skipped,
        "workspaces": workspaces,
    }


def local_tick(
    settings: Any, clock: Any, session: Any, export: Callable[[WorkItem, Any], Any], seconds: float
) -> dict[str, Any]:
    """A schedule tick on the local stack: the dispatcher, then the work queue drained into the
    worker's batch processing (worker.process_batch) with `export` recorded. `session` is the
    dispatcher's and the event source's; the worker's export brings its own, as on AWS."""
    from leadlex_exporter.dispatcher import dispatch
    from leadlex_exporter.worker import process_batch

    dispatched = dispatch(settings, clock, session)
    recorder = export if isinstance(export, Recorder) else Recorder(export)
    source = EventSource(session.client("sqs"), settings.work_queue_url)
    source.drain(
        lambda event, context: process_batch(event, context, recorder),
        lambda: LambdaContext(seconds),
    )
    return tick_result(dispatched, recorder.summaries, recorder.skipped)
