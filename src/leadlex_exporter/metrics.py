"""CloudWatch metrics (EMF) of a run.

Every run emits one set with the `service` dimension alone: its workspaces added up (counts
summed, the worst lag, the lowest quota left), so the number of metrics stays the same however
many workspaces there are. A set per workspace, with a `workspace` dimension too, is opt-in
(WORKSPACE_METRICS): it costs one custom metric per name and workspace.
"""

from __future__ import annotations

from collections.abc import Iterable

from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

from leadlex_exporter.summary import RunSummary, WorkspaceResult

Figure = tuple[str, MetricUnit, float]


def publish(
    summary: RunSummary, namespace: str, service: str, *, per_workspace: bool = False
) -> None:
    if per_workspace:
        for result in summary.workspaces:
            _flush(namespace, service, _workspace_figures(result), result.name[:250] or "-")
    _flush(namespace, service, [*_run_figures(summary), *_outcome_figures(summary)])


def publish_dispatch(items: int, invalid: int, namespace: str, service: str) -> None:
    """The dispatcher's tick: keys handed to workers, and secret entries it could not use."""
    tick = EphemeralMetrics(namespace=namespace, service=service)
    tick.add_metric(name="WorkItemsDispatched", unit=MetricUnit.Count, value=items)
    tick.add_metric(name="InvalidSecretEntries", unit=MetricUnit.Count, value=invalid)
    tick.flush_metrics()


def _flush(namespace: str, service: str, figures: Iterable[Figure], workspace: str = "") -> None:
    metrics = EphemeralMetrics(namespace=namespace, service=service)
    if workspace:
        metrics.add_dimension(name="workspace", value=workspace)
    for name, unit, value in figures:
        metrics.add_metric(name=name, unit=unit, value=value)
    metrics.flush_metrics()


def _counts(result: WorkspaceResult) -> dict[str, int]:
    return {
        "EventsExported": result.stats.exported,
        "EventsNotified": result.stats.notified,
        "EventsQuarantined": result.stats.quarantined,
        "DuplicatesSkipped": result.stats.duplicates_skipped,
        "ApiCalls": result.api_calls,
        "CampaignsFailed": len(result.failed_campaigns),
        "CampaignsBusy": len(result.busy_campaigns),
        "CampaignsBackfilling": result.backfilling,
        "CommitsRecovered": result.stats.recovered,
        "WorkspaceFailed": int(result.status == "failed"),
        "QuotaExhausted": int(result.quota_limited),
        "CampaignsPolled": result.polled_campaigns,
        "CampaignsDeferred": len(result.deferred_campaigns),
    }


def _gauges(
    quota_remaining: float | None, max_lag: float | None, clock_skew: float | None
) -> list[Figure]:
    figures: list[Figure] = []
    if quota_remaining is not None:
        figures.append(("QuotaRemaining", MetricUnit.Count, quota_remaining))
    if max_lag is not None:
        # the worst campaign's lag: now minus the end of its last polled window
        figures.append(("MaxLagSeconds", MetricUnit.Seconds, max_lag))
    if clock_skew is not None:
        figures.append(("ApiClockSkewSeconds", MetricUnit.Seconds, clock_skew))
    return figures


def _workspace_figures(result: WorkspaceResult) -> list[Figure]:
    counts = [(name, MetricUnit.Count, float(v)) for name, v in _counts(result).items()]
    gauges = _gauges(result.quota_remaining, result.max_lag_seconds, result.api_clock_skew)
    return [*counts, *gauges]


def _run_figures(summary: RunSummary) -> list[Figure]:
    """The run's workspaces as one: counts summed, the lowest quota, the worst lag."""
    totals = dict.fromkeys(_counts(WorkspaceResult(name="")), 0)
    for result in summary.workspaces:
        for name, value in _counts(result).items():
            totals[name] += value
    quotas = [w.quota_remaining for w in summary.workspaces if w.quota_remaining is not None]
    lags = [w.max_lag_seconds for w in summary.workspaces if w.max_lag_seconds is not None]
    skews = [w.api_clock_skew for w in summary.workspaces if w.api_clock_skew is not None]
    gauges = _gauges(
        min(quotas, default=None),
        max(lags, default=None),
        max(skews, key=abs, default=None),  # the widest gap, either way
    )
    return [*((name, MetricUnit.Count, float(v)) for name, v in totals.items()), *gauges]


def _outcome_figures(summary: RunSummary) -> list[Figure]:
    return [
        ("RunsSucceeded", MetricUnit.Count, float(summary.ok)),
        ("RunsFailed", MetricUnit.Count, float(not summary.ok)),
        (
            "RunsStoppedEarly",
            MetricUnit.Count,
            float(summary.as_dict()["stopped_early"] is not None),
        ),
    ]
