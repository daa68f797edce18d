"""The Glue table in template.yaml reads exactly what the exporter writes.

The exporter runs once on realistic events; everything it wrote is copied to a local directory
with the bucket's keys as paths, and read back with DuckDB using only the table's definition:
its columns (Hive types mapped to DuckDB types), SerDe and compression, its location, and its
partition key taken from the path through `storage.location.template` (as partition projection
does; the deeper `workspace=` folder is a plain folder to Athena).
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import duckdb
import pytest

from tests.athena.dataset import (
    ODD_CAMPAIGN,
    PLAIN_CAMPAIGN,
    UNDOCUMENTED_FIELDS,
    WORKSPACE,
    Export,
    campaign_events,
    export_and_download,
    given_workspace,
    table_files,
)
from tests.athena.glue import (
    JSON_EXTRACT_SCALAR,
    EventsTable,
    as_text,
    strftime_pattern,
    utc_date,
)
from tests.conftest import BUCKET

DOCUMENTED_FIELDS = {"id", "type", "contact_id", "email", "step_id", "timestamp", "metadata"}
ADDED_FIELDS = {"workspace", "campaign_id", "exported_at", "export_run"}


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
    result = export_and_download(
        stack, clock, api, tmp_path / "bucket", prefixes, prefixes.get("EXPORT_PREFIX", "events")
    )
    assert result.summary["status"] == "ok", result.summary
    return result


def read_table(
    table: EventsTable, export: Export, where: str = "", select: str = "*"
) -> list[dict[str, Any]]:
    relation = table.relation_sql(table_files(table, export), export.root)
    con = duckdb.connect()
    con.execute(JSON_EXTRACT_SCALAR)
    result = con.sql(f"SELECT {select} FROM ({relation}) AS events {where}")
    return [dict(zip(result.columns, row, strict=True)) for row in result.fetchall()]


def expected_value(hive_type: str, value: Any) -> Any:
    """What a JSON SerDe shows for `value` in a column of `hive_type`: in a `string` column, any
    JSON value as its JSON text (a string as itself), as DuckDB's VARCHAR reading also does."""
    kind = hive_type.replace(" ", "").lower()
    if kind == "string":
        return as_text(value)
    return value


def test_the_table_reads_every_exported_record_with_its_values(table, export):
    files = table_files(table, export)
    rows = read_table(table, export)

    relative = {str(f.relative_to(export.root)) for f in files}
    assert relative == set(export.keys), "only event files live under the table's Location"
    if table.parameters.get("compressionType") == "gzip":
        # Athena picks the codec by extension: a gzip file must end in .gz.
        assert all(key.endswith(".gz") for key in export.keys)
    by_id = {record["id"]: record for _, record in export.records}
    assert len(by_id) == len(export.records) == len(export.sent) > 100
    assert sorted(row["id"] for row in rows) == sorted(by_id)
    for row in rows:
        record = by_id[row["id"]]
        for column, hive_type in table.columns.items():
            assert row[column] == expected_value(hive_type, record.get(column)), (column, record)


def test_the_partition_is_the_utc_date_of_the_records_own_timestamp(table, export):
    assert list(table.partition_keys) == ["event_date"]
    fmt = strftime_pattern(table.projection("event_date")["format"])
    rows = read_table(table, export)
    by_id = {record["id"]: (key, record) for key, record in export.records}

    dates: dict[str, set[str]] = {}
    for row in rows:
        key, record = by_id[row["id"]]
        expected = utc_date(record["timestamp"]).strftime(fmt)
        assert row["event_date"] == expected, (record["timestamp"], row["_file"])
        dates.setdefault(expected, set()).add(key)
    assert len(dates) >= 4

    # The projection's location for a date is a prefix of every key holding that date's records,
    # and of no other key: Athena reads exactly those objects for `event_date = '<date>'`.
    for value, keys in dates.items():
        location = table.render_location({"event_date": value})
        assert location.startswith(table.location)
        holding = {k for k in export.keys if f"s3://{BUCKET}/{k}".startswith(location)}
        assert holding == keys, value

    # Offsets: the printed date is not the partition, the UTC date is.
    shifted = [r for r in rows if r["timestamp"][:10] != r["event_date"]]
    assert {r["timestamp"][-6:] for r in shifted} == {"-03:00", "+02:00"}


def test_workspace_and_campaign_id_come_back_unencoded(table, export):
    rows = read_table(table, export, select="DISTINCT workspace, campaign_id")

    assert {(r["workspace"], r["campaign_id"]) for r in rows} == {
        (WORKSPACE, ODD_CAMPAIGN),
        (WORKSPACE, PLAIN_CAMPAIGN),
    }
    odd_keys = [k for k, r in export.records if r["campaign_id"] == ODD_CAMPAIGN]
    assert odd_keys
    assert all("/workspace=a%2Fb%20c/part-" in k for k in odd_keys)


def test_every_column_is_written_and_every_other_field_is_reported(table, export):
    columns = set(table.columns)
    assert columns >= DOCUMENTED_FIELDS | ADDED_FIELDS
    assert not columns & set(table.partition_keys), "a partition key shadows a column"
    # Glue lowercases column names; the JSON SerDe matches keys case-insensitively.
    assert all(name == name.lower() for name in columns)

    never_written = {c for c in columns if not all(c in r for _, r in export.records)}
    assert not never_written, f"columns some exported records lack: {sorted(never_written)}"

    sent_fields = {field for event in export.sent.values() for field in event}
    not_columns = sent_fields - columns
    if not_columns:
        warnings.warn(
            "fields the API sent that the Glue table has no column for (kept in S3, invisible "
            f"in Athena until a column is added): {sorted(not_columns)}",
            UserWarning,
            stacklevel=1,
        )
    assert not_columns == UNDOCUMENTED_FIELDS
    written_fields = {field for _, record in export.records for field in record}
    assert written_fields == sent_fields | ADDED_FIELDS, "the exporter dropped or invented a field"


def test_every_row_names_when_and_by_which_run_it_was_exported(table, export, clock):
    rows = read_table(table, export, select="id, exported_at, export_run, _file")

    assert len(rows) == len(export.records)
    # One run, on a clock that stands still: every group formed at the run's start.
    assert {r["exported_at"] for r in rows} == {clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")}
    assert {r["export_run"] for r in rows} == set(export.summary["run_ids"])
    per_file = {(r["_file"], r["exported_at"], r["export_run"]) for r in rows}
    assert len(per_file) == len({r["_file"] for r in rows}), "one time and run per object"


def test_metadata_is_queryable_by_key(table, export):
    # A string column: any JSON shape stays readable; keys are read with the JSON functions.
    assert table.columns["metadata"].replace(" ", "").lower() == "string"
    by_id = {record["id"]: record for _, record in export.records}

    clicks = read_table(
        table, export, "WHERE type = 'clicked'", "id, json_extract_scalar(metadata, '$.url') AS url"
    )
    opens = read_table(
        table,
        export,
        "WHERE type = 'opened' AND json_extract(metadata, '$.geo') IS NOT NULL",
        "id, json_extract(metadata, '$.geo') AS geo, "
        "json_extract_scalar(metadata, '$.geo.lat') AS lat, "
        "json_extract_scalar(metadata, '$.geo') AS geo_scalar, "
        "json_extract_scalar(metadata, '$.is_bot') AS is_bot, "
        "json_extract_scalar(metadata, '$.open_count') AS open_count",
    )
    empty = read_table(
        table,
        export,
        "WHERE type IN ('sent', 'delivered')",
        "id, metadata, json_extract_scalar(metadata, '$.url') AS url",
    )

    assert clicks
    assert all(c["url"] == by_id[c["id"]]["metadata"]["url"] for c in clicks)
    assert opens
    for row in opens:
        metadata = by_id[row["id"]]["metadata"]
        assert json.loads(row["geo"]) == metadata["geo"]  # json_extract: nested JSON
        assert row["lat"] == str(metadata["geo"]["lat"])  # a path into the nested object
        assert row["geo_scalar"] is None  # json_extract_scalar: scalars only
        assert row["is_bot"] == "false"
        assert row["open_count"] == str(metadata["open_count"])
    assert {r["metadata"] for r in empty} == {"{}", None}
    assert all(r["url"] is None for r in empty)


def test_the_projection_generates_every_written_date(table, export, clock):
    assert table.parameters.get("projection.enabled") == "true"
    for key in table.partition_keys:
        assert table.projection(key).get("type"), f"projection.{key}.type is missing"
    rows = read_table(table, export, select="DISTINCT event_date")
    written = {r["event_date"] for r in rows}

    # Athena evaluates NOW when the query runs; the data here is as of the fake clock's now.
    assert table.projected_values("event_date", written, clock.now()) == written


def test_quarantined_records_stay_outside_the_table(table, stack, clock, api, tmp_path, prefixes):
    now = clock.now()
    good = campaign_events("q", now, contacts=1)[:1]
    base = {**good[0]}
    bad = [
        {k: v for k, v in base.items() if k != "id"},
        {**base, "id": "", "type": "opened"},
        {**base, "id": "evt_q_untimed", "timestamp": "yesterday"},
    ]
    given_workspace(stack, api, {PLAIN_CAMPAIGN: good + bad})
    export_prefix = prefixes.get("EXPORT_PREFIX", "events")

    export = export_and_download(stack, clock, api, tmp_path / "bucket", prefixes, export_prefix)

    (workspace,) = export.summary["workspaces"]
    assert workspace["events_quarantined"] == 3
    assert workspace["events_exported"] == 1
    assert [r["id"] for r in read_table(table, export)] == [good[0]["id"]]
    assert [r["id"] for _, r in export.records] == [good[0]["id"]]
    quarantine_prefix = prefixes.get("QUARANTINE_PREFIX", "quarantine")
    quarantined = stack.records(quarantine_prefix + "/")
    assert len(quarantined) == 3
    assert not any(f"s3://{BUCKET}/{key}".startswith(table.location) for key, _ in quarantined)
    for name in ("QUARANTINE_PREFIX",):  # Athena reads all under Location
        assert not f"s3://{BUCKET}/{prefixes[name]}/".startswith(table.location), name


def test_metadata_that_is_not_an_object_keeps_the_table_readable(
    table, stack, clock, api, tmp_path, prefixes
):
    # metadata the API sends -> what the string column shows (the SerDe's JSON text).
    shapes: list[tuple[Any, str | None]] = [
        ("plain text", "plain text"),  # a JSON string: its text, unquoted
        (["a", "b"], '["a","b"]'),
        (42, "42"),
        (2.5, "2.5"),
        (True, "true"),
        (None, None),
        ({"url": "https://acme.example/demo"}, '{"url":"https://acme.example/demo"}'),
    ]
    now = clock.now()
    events = campaign_events("shape", now, contacts=2)
    assert len(events) >= len(shapes)
    for i, (metadata, _) in enumerate(shapes):
        events[i] = {**events[i], "metadata": metadata}
    given_workspace(stack, api, {PLAIN_CAMPAIGN: events})
    export_prefix = prefixes.get("EXPORT_PREFIX", "events")

    export = export_and_download(stack, clock, api, tmp_path / "bucket", prefixes, export_prefix)
    by_id = {r["id"]: r for _, r in export.records}
    rows = read_table(
        table, export, select="id, metadata, json_extract_scalar(metadata, '$.url') AS url"
    )

    # Every event is exported with its metadata unchanged, and every row is readable.
    assert sorted(by_id) == sorted(e["id"] for e in events)
    assert all(by_id[e["id"]]["metadata"] == e["metadata"] for e in events)
    assert sorted(r["id"] for r in rows) == sorted(by_id)
    shown = {r["id"]: r for r in rows}
    for event, (_, text) in zip(events, shapes, strict=False):
        row = shown[event["id"]]
        assert row["metadata"] == text, event["metadata"]
        # Not JSON ('plain text'), or JSON without the key: NULL, not an error.
        assert row["url"] == (
            event["metadata"]["url"] if isinstance(event["metadata"], dict) else None
        )
