"""Every SQL block of docs/athena.md runs, and the main answers are right.

The queries are Athena (Trino) SQL. They run here with DuckDB over files the exporter wrote, read
through a view built from the Glue table in template.yaml and named like the deployed table
(`leadlex_exporter.events`). The few Trino functions DuckDB lacks get macros; the doc lists them.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import duckdb
import pytest

from tests.athena.dataset import (
    ODD_CAMPAIGN,
    PLAIN_CAMPAIGN,
    Export,
    campaign_events,
    export_and_download,
    given_workspace,
    table_files,
)
from tests.athena.glue import JSON_EXTRACT_SCALAR, ROOT, utc_date
from tests.conftest import run_exporter

DOC = ROOT / "docs" / "athena.md"
DATABASE = "leadlex_exporter"  # what the default stack name, leadlex-exporter, gives
TRINO_STAND_INS = [
    "CREATE MACRO from_iso8601_timestamp(s) AS CAST(s AS TIMESTAMPTZ)",
    "CREATE MACRO approx_percentile(x, p) AS quantile_cont(x, p)",
    JSON_EXTRACT_SCALAR,
]


def doc_queries() -> list[str]:
    blocks = re.findall(r"```sql\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    return [b for b in blocks if "athena only" not in b.splitlines()[0].lower()]


def the_query(containing: str) -> str:
    (query,) = [q for q in doc_queries() if containing in q]
    return query


@pytest.fixture
def export(stack, clock, api, tmp_path, prefixes) -> Export:
    now = clock.now()
    given_workspace(
        stack,
        api,
        {
            ODD_CAMPAIGN: campaign_events("odd", now),
            PLAIN_CAMPAIGN: campaign_events("plain", now, contacts=12),
        },
    )
    return export_and_download(
        stack, clock, api, tmp_path / "bucket", prefixes, prefixes.get("EXPORT_PREFIX", "events")
    )


@pytest.fixture
def athena(table, export) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")  # Athena's session zone
    for macro in TRINO_STAND_INS:
        con.execute(macro)
    con.execute(f"CREATE SCHEMA {DATABASE}")
    relation = table.relation_sql(table_files(table, export), export.root)
    con.execute(f"CREATE VIEW {DATABASE}.{table.name} AS {relation}")
    return con


def rows(con: duckdb.DuckDBPyConnection, query: str) -> list[dict[str, Any]]:
    result = con.sql(query)
    return [dict(zip(result.columns, row, strict=True)) for row in result.fetchall()]


def test_the_doc_has_the_promised_queries():
    queries = doc_queries()
    assert len(queries) >= 5
    assert all("event_date" in q for q in queries), "every query filters on the partition"


@pytest.mark.parametrize("index", range(len(doc_queries())))
def test_every_doc_query_runs(athena, index):
    query = doc_queries()[index]
    result = rows(athena, query)

    # The data is dated by the fake clock: windows relative to the real today may be empty.
    assert result or "current_" in query, "the query returned nothing on the exported events"


def test_daily_funnel_counts_match_the_exported_records(athena, export):
    result = rows(athena, the_query("AS replied"))

    expected: Counter[tuple[str, str, str, str]] = Counter()
    for _, record in export.records:
        day = utc_date(record["timestamp"]).isoformat()
        expected[(day, record["workspace"], record["campaign_id"], record["type"])] += 1
    for row in result:
        group = (row["event_date"], row["workspace"], row["campaign_id"])
        for kind in ("sent", "delivered", "opened", "clicked", "replied"):
            assert row[kind] == expected[(*group, kind)], (group, kind)
    assert len(result) == len({k[:3] for k in expected})


def test_clicks_per_url_match_the_exported_records(athena, export):
    result = rows(athena, the_query("AS url"))

    clicks = Counter(r["metadata"]["url"] for _, r in export.records if r["type"] == "clicked")
    assert {r["url"]: r["clicks"] for r in result} == dict(clicks)


def test_reply_times_are_positive_and_ordered(athena):
    result = rows(athena, the_query("p90_hours"))

    assert {r["campaign_id"] for r in result} == {ODD_CAMPAIGN, PLAIN_CAMPAIGN}
    for row in result:
        assert row["contacts_replied"] > 0
        assert 0 < row["median_hours"] <= row["p90_hours"] < 24 * 30


def test_the_incremental_query_returns_what_the_later_run_wrote_in_old_partitions(
    stack, clock, api, tmp_path, prefixes, table
):
    # Given: a run at 11:40 exports one campaign; a second campaign is listed afterwards.
    clock.current = clock.current.replace(hour=11, minute=40)
    first_events = campaign_events("odd", clock.now())
    given_workspace(stack, api, {ODD_CAMPAIGN: first_events})
    first = run_exporter(stack, clock, api, **prefixes)
    assert first["status"] == "ok", first
    clock.current = clock.current.replace(hour=12, minute=0)
    later_events = campaign_events("plain", clock.now(), contacts=12)
    given_workspace(stack, api, {ODD_CAMPAIGN: first_events, PLAIN_CAMPAIGN: later_events})

    # When: the 12:00 run back-fills it, and the doc's incremental query runs over the bucket.
    export = export_and_download(
        stack, clock, api, tmp_path / "bucket", prefixes, prefixes.get("EXPORT_PREFIX", "events")
    )
    assert export.summary["status"] == "ok", export.summary
    con = duckdb.connect()
    relation = table.relation_sql(table_files(table, export), export.root)
    con.execute(f"CREATE SCHEMA {DATABASE}")
    con.execute(f"CREATE VIEW {DATABASE}.{table.name} AS {relation}")
    result = rows(con, the_query("exported_at >"))

    # Then: exactly the second run's records, several of them in partitions of earlier days.
    assert sorted(r["id"] for r in result) == sorted(e["id"] for e in later_events)
    assert {r["export_run"] for r in result} == set(export.summary["run_ids"])
    assert {r["exported_at"] for r in result} == {"2026-11-20T12:00:00Z"}
    assert len({r["event_date"] for r in result if r["event_date"] < "2026-11-20"}) >= 2
    earlier = {r["id"]: r for _, r in export.records if r["campaign_id"] == ODD_CAMPAIGN}
    assert sorted(earlier) == sorted(e["id"] for e in first_events)
    assert {r["exported_at"] for r in earlier.values()} == {"2026-11-20T11:40:00Z"}
    assert {r["export_run"] for r in earlier.values()} == set(first["run_ids"])
