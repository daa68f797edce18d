"""The run's CloudWatch metrics (EMF lines on stdout): one set per workspace, one for the run."""

from __future__ import annotations

import json

from leadlex_exporter.context import CampaignStats
from leadlex_exporter.metrics import publish
from leadlex_exporter.summary import RunSummary, WorkspaceResult


def emf_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if '"_aws"' in line]


def test_each_workspace_gets_its_counts_and_the_api_clock_gap_when_known(capsys, monkeypatch):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")  # the suite silences them
    stats = CampaignStats()
    stats.exported, stats.notified = 120, 7
    summary = RunSummary(
        run_id="r1",
        workspaces=[
            WorkspaceResult(name="acme", stats=stats, api_calls=3, api_clock_skew=-95.4),
            WorkspaceResult(name="beta", status="failed", error="revoked key"),
        ],
    )

    publish(summary, "LeadLexExporter", "leadlex-exporter")

    acme, beta, run = emf_lines(capsys.readouterr().out)
    assert acme["workspace"] == "acme"
    assert acme["EventsExported"] == [120.0]
    assert acme["ApiCalls"] == [3.0]
    assert acme["ApiClockSkewSeconds"] == [-95.4]
    units = {m["Name"]: m["Unit"] for m in acme["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert units["ApiClockSkewSeconds"] == "Seconds"
    assert beta["WorkspaceFailed"] == [1.0]
    assert "ApiClockSkewSeconds" not in beta, "no page served: nothing to compare"
    assert run["RunsFailed"] == [1.0]


def test_freshness_figures_per_workspace(capsys, monkeypatch):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    summary = RunSummary(
        run_id="r2",
        workspaces=[
            WorkspaceResult(
                name="acme",
                polled_campaigns=2,
                deferred_campaigns=["c3", "c4", "c5"],
                max_lag_seconds=5400.0,
            ),
            WorkspaceResult(name="beta"),
        ],
    )

    publish(summary, "LeadLexExporter", "leadlex-exporter")

    acme, beta, _ = emf_lines(capsys.readouterr().out)
    assert acme["MaxLagSeconds"] == [5400.0]
    assert acme["CampaignsPolled"] == [2.0]
    assert acme["CampaignsDeferred"] == [3.0]
    units = {m["Name"]: m["Unit"] for m in acme["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert units["MaxLagSeconds"] == "Seconds"
    assert "MaxLagSeconds" not in beta, "no campaign known yet: no lag to report"
