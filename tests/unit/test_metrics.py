"""The run's CloudWatch metrics (EMF lines on stdout): one set for the run, its workspaces added
up; a set per workspace too only when asked for (WORKSPACE_METRICS)."""

from __future__ import annotations

import json
from pathlib import Path

from leadlex_exporter.context import CampaignStats
from leadlex_exporter.metrics import publish, publish_dispatch
from leadlex_exporter.summary import RunSummary, WorkspaceResult


def emf_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if '"_aws"' in line]


def test_opt_in_gives_each_workspace_its_counts_and_the_api_clock_gap_when_known(
    capsys, monkeypatch
):
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

    publish(summary, "LeadLexExporter", "leadlex-exporter", per_workspace=True)

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


def test_opt_in_freshness_figures_per_workspace(capsys, monkeypatch):
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

    publish(summary, "LeadLexExporter", "leadlex-exporter", per_workspace=True)

    acme, beta, _ = emf_lines(capsys.readouterr().out)
    assert acme["MaxLagSeconds"] == [5400.0]
    assert acme["CampaignsPolled"] == [2.0]
    assert acme["CampaignsDeferred"] == [3.0]
    units = {m["Name"]: m["Unit"] for m in acme["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert units["MaxLagSeconds"] == "Seconds"
    assert "MaxLagSeconds" not in beta, "no campaign known yet: no lag to report"


def dimension_sets(line: dict) -> list[list[str]]:
    return [sorted(d) for d in line["_aws"]["CloudWatchMetrics"][0]["Dimensions"]]


def three_workspaces() -> RunSummary:
    acme, beta = CampaignStats(), CampaignStats()
    acme.exported, acme.notified, beta.exported = 120, 7, 30
    return RunSummary(
        run_id="r3",
        workspaces=[
            WorkspaceResult(
                name="acme",
                stats=acme,
                api_calls=3,
                quota_remaining=900,
                max_lag_seconds=600.0,
                api_clock_skew=2.0,
                failed_campaigns={"c9": "gone"},
            ),
            WorkspaceResult(
                name="beta",
                stats=beta,
                api_calls=5,
                quota_remaining=870,
                max_lag_seconds=5400.0,
                api_clock_skew=-95.0,
            ),
            WorkspaceResult(name="gamma", status="failed", error="revoked key"),
        ],
    )


def test_by_default_one_set_adds_the_workspaces_up_without_a_workspace_dimension(
    capsys, monkeypatch
):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")

    publish(three_workspaces(), "LeadLexExporter", "leadlex-exporter")

    (run,) = emf_lines(capsys.readouterr().out)
    assert dimension_sets(run) == [["service"]]
    assert "workspace" not in run
    assert run["EventsExported"] == [150.0]  # counts are summed
    assert run["EventsNotified"] == [7.0]
    assert run["ApiCalls"] == [8.0]
    assert run["CampaignsFailed"] == [1.0]
    assert run["WorkspaceFailed"] == [1.0]
    assert run["MaxLagSeconds"] == [5400.0]  # the worst lag
    assert run["QuotaRemaining"] == [870.0]  # the lowest quota left
    assert run["ApiClockSkewSeconds"] == [-95.0]  # the widest gap, sign kept
    assert run["RunsFailed"] == [1.0]


def test_the_default_metric_names_do_not_grow_with_the_workspaces(capsys, monkeypatch):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    one = three_workspaces()
    one.workspaces = one.workspaces[:1]

    publish(one, "LeadLexExporter", "leadlex-exporter")
    publish(three_workspaces(), "LeadLexExporter", "leadlex-exporter")

    small, large = emf_lines(capsys.readouterr().out)
    names = [
        {m["Name"] for m in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
        for line in (small, large)
    ]
    assert names[0] == names[1]
    assert dimension_sets(small) == dimension_sets(large) == [["service"]]


def test_opt_in_adds_a_set_per_workspace_to_the_run_set(capsys, monkeypatch):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")

    publish(three_workspaces(), "LeadLexExporter", "leadlex-exporter", per_workspace=True)

    *per_workspace, run = emf_lines(capsys.readouterr().out)
    assert [line["workspace"] for line in per_workspace] == ["acme", "beta", "gamma"]
    assert all(dimension_sets(line) == [["service", "workspace"]] for line in per_workspace)
    assert per_workspace[1]["MaxLagSeconds"] == [5400.0]
    assert dimension_sets(run) == [["service"]]
    assert run["EventsExported"] == [150.0]
    assert run["MaxLagSeconds"] == [5400.0]


def test_a_run_without_workspaces_reports_zero_counts_and_no_gauges(capsys, monkeypatch):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")

    publish(RunSummary(run_id="r4"), "LeadLexExporter", "leadlex-exporter")

    (run,) = emf_lines(capsys.readouterr().out)
    assert run["EventsExported"] == [0.0]
    assert run["RunsSucceeded"] == [1.0]
    assert "MaxLagSeconds" not in run
    assert "QuotaRemaining" not in run


def metric_keys(text: str) -> set[tuple[str, tuple[str, ...]]]:
    """Distinct (metric name, dimension names): what CloudWatch bills as one custom metric each
    (for a given workspace name)."""
    return {
        (metric["Name"], tuple(sorted(dimensions)))
        for line in emf_lines(text)
        for directive in line["_aws"]["CloudWatchMetrics"]
        for dimensions in directive["Dimensions"]
        for metric in directive["Metrics"]
    }


def test_readme_cost_counts_the_metrics_the_code_emits(capsys, monkeypatch):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    summary = three_workspaces()
    summary.workspaces = summary.workspaces[:1]  # every figure known

    publish(summary, "LeadLexExporter", "leadlex-exporter")
    publish_dispatch(1, 0, "LeadLexExporter", "leadlex-exporter")
    default = metric_keys(capsys.readouterr().out)
    publish(summary, "LeadLexExporter", "leadlex-exporter", per_workspace=True)
    per_workspace = metric_keys(capsys.readouterr().out) - default

    assert all(dimensions == ("service",) for _, dimensions in default)
    assert all(dimensions == ("service", "workspace") for _, dimensions in per_workspace)
    total = len(default) + len(per_workspace) * 50
    assert f"{len(default)} + {len(per_workspace)} x 50 = {total}: ${total * 0.30:.2f}" in readme
    assert f"| {len(default)}: ${len(default) * 0.30:.2f} |" in readme
