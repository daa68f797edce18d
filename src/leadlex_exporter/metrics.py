"""CloudWatch metrics (EMF) of a run: one set per workspace, with a `workspace` dimension."""

from __future__ import annotations

from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

from leadlex_exporter.summary import RunSummary


def publish(summary: RunSummary, namespace: str, service: str) -> None:
    for result in summary.workspaces:
        metrics = EphemeralMetrics(namespace=namespace, service=service)
        metrics.add_dimension(name="workspace", value=result.name[:250] or "-")
        counts = {
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
        for name, value in counts.items():
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
        if result.quota_remaining is not None:
            metrics.add_metric(
                name="QuotaRemaining", unit=MetricUnit.Count, value=result.quota_remaining
            )
        if result.max_lag_seconds is not None:
            # the worst campaign's lag: now minus the end of its last polled window
            metrics.add_metric(
                name="MaxLagSeconds", unit=MetricUnit.Seconds, value=result.max_lag_seconds
            )
        if result.api_clock_skew is not None:
            metrics.add_metric(
                name="ApiClockSkewSeconds", unit=MetricUnit.Seconds, value=result.api_clock_skew
            )
        metrics.flush_metrics()
    run = EphemeralMetrics(namespace=namespace, service=service)
    run.add_metric(name="RunsSucceeded", unit=MetricUnit.Count, value=int(summary.ok))
    run.add_metric(name="RunsFailed", unit=MetricUnit.Count, value=int(not summary.ok))
    run.add_metric(
        name="RunsStoppedEarly",
        unit=MetricUnit.Count,
        value=int(summary.as_dict()["stopped_early"] is not None),
    )
    run.flush_metrics()


def publish_dispatch(items: int, invalid: int, namespace: str, service: str) -> None:
    """The dispatcher's tick: keys handed to workers, and secret entries it could not use."""
    tick = EphemeralMetrics(namespace=namespace, service=service)
    tick.add_metric(name="WorkItemsDispatched", unit=MetricUnit.Count, value=items)
    tick.add_metric(name="InvalidSecretEntries", unit=MetricUnit.Count, value=invalid)
    tick.flush_metrics()
