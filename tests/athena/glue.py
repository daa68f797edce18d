"""The Glue table of template.yaml, read as data and turned into a DuckDB reader.

Nothing here knows the layout the exporter uses: columns, SerDe, partition keys, projection and
the location template all come from the `AWS::Glue::Table` resource, so a test that reads the
exported files through `EventsTable.relation_sql` reads them the way Athena would.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.cfn import ROOT, TEMPLATE, load_template

__all__ = ["ROOT", "TEMPLATE", "EventsTable", "Resolver", "load_template"]

JSON_SERDES = {
    "org.openx.data.jsonserde.JsonSerDe",
    "org.apache.hive.hcatalog.data.JsonSerDe",
    "org.apache.hadoop.hive.serde2.JsonSerDe",
}


# --------------------------------------------------------------------------- CloudFormation values
class Resolver:
    """Values of `!Ref` and `${...}` as a deployed stack would see them (parameter defaults)."""

    def __init__(self, template: dict[str, Any], physical: dict[str, str]):
        self.template = template
        self.physical = physical  # logical id of a resource -> its name in the test stack

    def ref(self, name: str) -> str:
        if name in self.physical:
            return self.physical[name]
        parameter = self.template.get("Parameters", {}).get(name)
        if parameter is None or "Default" not in parameter:
            raise KeyError(f"no value for Ref {name!r} in the test stack")
        return str(parameter["Default"])

    def value(self, node: Any) -> str:
        if isinstance(node, str | int | float):
            return str(node)
        if isinstance(node, dict) and set(node) == {"Ref"}:
            return self.ref(node["Ref"])
        if isinstance(node, dict) and set(node) == {"Fn::Sub"}:
            return self.sub(node["Fn::Sub"])
        raise ValueError(f"cannot resolve {node!r}")

    def sub(self, text: Any) -> str:
        """`!Sub` text with references filled; `${!x}` stays a literal `${x}`."""
        if not isinstance(text, str):
            raise ValueError(f"only the one-argument !Sub form is supported here: {text!r}")

        def fill(match: re.Match[str]) -> str:
            inner = match.group(1)
            if inner.startswith("!"):
                return "${" + inner[1:] + "}"
            return self.ref(inner)

        return re.sub(r"\$\{([^}]*)\}", fill, text)


# --------------------------------------------------------------------------- Hive types -> DuckDB
_PRIMITIVES = {
    "string": "VARCHAR",
    "varchar": "VARCHAR",
    "char": "VARCHAR",
    "tinyint": "TINYINT",
    "smallint": "SMALLINT",
    "int": "INTEGER",
    "integer": "INTEGER",
    "bigint": "BIGINT",
    "float": "FLOAT",
    "double": "DOUBLE",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "binary": "BLOB",
}


def duckdb_type(hive_type: str) -> str:
    """`map<string,array<struct<a:int>>>` -> `MAP(VARCHAR, STRUCT("a" INTEGER)[])`."""
    parsed, rest = _parse_type(hive_type.strip())
    if rest.strip():
        raise ValueError(f"trailing text in Hive type {hive_type!r}: {rest!r}")
    return parsed


def _parse_type(text: str) -> tuple[str, str]:
    match = re.match(r"\s*([A-Za-z_]+)\s*", text)
    if not match:
        raise ValueError(f"not a Hive type: {text!r}")
    name, rest = match.group(1).lower(), text[match.end() :]
    if name in ("array", "map", "struct"):
        if not rest.startswith("<"):
            raise ValueError(f"{name} without <...>: {text!r}")
        rest = rest[1:]
        if name == "array":
            inner, rest = _parse_type(rest)
            return f"{inner}[]", _expect(rest, ">")
        if name == "map":
            key, rest = _parse_type(rest)
            value, rest = _parse_type(_expect(rest, ","))
            return f"MAP({key}, {value})", _expect(rest, ">")
        fields = []
        while True:
            field = re.match(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*:", rest)
            if not field:
                raise ValueError(f"struct field expected in {text!r}")
            inner, rest = _parse_type(rest[field.end() :])
            fields.append(f'"{field.group(1)}" {inner}')
            rest = rest.lstrip()
            if rest.startswith(","):
                rest = rest[1:]
                continue
            return f"STRUCT({', '.join(fields)})", _expect(rest, ">")
    if name == "decimal":
        args = re.match(r"\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)", rest)
        if not args:
            return "DECIMAL(10, 0)", rest
        return f"DECIMAL({args.group(1)}, {args.group(2) or 0})", rest[args.end() :]
    if name in ("varchar", "char"):
        length = re.match(r"\(\s*\d+\s*\)", rest)
        rest = rest[length.end() :] if length else rest
    if name not in _PRIMITIVES:
        raise ValueError(f"unknown Hive type {name!r}")
    return _PRIMITIVES[name], rest


def _expect(rest: str, token: str) -> str:
    rest = rest.lstrip()
    if not rest.startswith(token):
        raise ValueError(f"expected {token!r} at {rest!r}")
    return rest[1:]


# --------------------------------------------------------------------------- projection
_JAVA_DATE_TOKENS = {"yyyy": "%Y", "MM": "%m", "dd": "%d", "HH": "%H", "mm": "%M", "ss": "%S"}


def strftime_pattern(java_pattern: str) -> str:
    """The Java DateTimeFormatter patterns partition projection uses, for the common fields."""
    out, i = [], 0
    while i < len(java_pattern):
        for token, directive in _JAVA_DATE_TOKENS.items():
            if java_pattern.startswith(token, i):
                out.append(directive)
                i += len(token)
                break
        else:
            char = java_pattern[i]
            if char.isalpha():
                raise ValueError(f"unsupported letter {char!r} in {java_pattern!r}")
            out.append(char.replace("%", "%%"))
            i += 1
    return "".join(out)


_UNITS = {
    "SECONDS": timedelta(seconds=1),
    "MINUTES": timedelta(minutes=1),
    "HOURS": timedelta(hours=1),
    "DAYS": timedelta(days=1),
    "WEEKS": timedelta(weeks=1),
}


def projection_bound(text: str, fmt: str, now: datetime) -> datetime:
    """One end of `projection.<col>.range`: a formatted date or `NOW[+-]<n><UNIT>`."""
    text = text.strip()
    relative = re.fullmatch(r"NOW(?:([+-])(\d+)(SECONDS|MINUTES|HOURS|DAYS|WEEKS))?", text)
    if relative:
        if not relative.group(1):
            return now
        step = _UNITS[relative.group(3)] * int(relative.group(2))
        return now + step if relative.group(1) == "+" else now - step
    return datetime.strptime(text, fmt).replace(tzinfo=UTC)


# --------------------------------------------------------------------------- the table
@dataclass
class EventsTable:
    resource: dict[str, Any]
    resolver: Resolver

    @classmethod
    def from_template(cls, template: dict[str, Any], physical: dict[str, str]) -> EventsTable:
        tables = [r for r in template["Resources"].values() if r["Type"] == "AWS::Glue::Table"]
        assert len(tables) == 1, "the template should define exactly one Glue table"
        return cls(tables[0], Resolver(template, physical))

    @property
    def input(self) -> dict[str, Any]:
        table_input: dict[str, Any] = self.resource["Properties"]["TableInput"]
        return table_input

    @property
    def name(self) -> str:
        return str(self.input["Name"])

    @property
    def parameters(self) -> dict[str, str]:
        return {
            k: str(v)
            for k, v in self.input.get("Parameters", {}).items()
            if k != "storage.location.template"
        }

    @property
    def storage(self) -> dict[str, Any]:
        storage: dict[str, Any] = self.input["StorageDescriptor"]
        return storage

    @property
    def columns(self) -> dict[str, str]:
        """Column name -> Hive type, in table order."""
        return {c["Name"]: c["Type"] for c in self.storage["Columns"]}

    @property
    def partition_keys(self) -> dict[str, str]:
        return {c["Name"]: c["Type"] for c in self.input.get("PartitionKeys", [])}

    @property
    def location(self) -> str:
        return self.resolver.value(self.storage["Location"])

    @property
    def location_template(self) -> str:
        """storage.location.template with the stack's names filled, `${<partition key>}` kept."""
        return self.resolver.value(self.input["Parameters"]["storage.location.template"])

    @property
    def serde(self) -> str:
        return str(self.storage["SerdeInfo"]["SerializationLibrary"])

    @property
    def serde_parameters(self) -> dict[str, str]:
        params = self.storage["SerdeInfo"].get("Parameters", {}) or {}
        return {k: str(v) for k, v in params.items()}

    # -- projection ------------------------------------------------------------------------
    def projection(self, key: str) -> dict[str, str]:
        prefix = f"projection.{key}."
        return {k[len(prefix) :]: v for k, v in self.parameters.items() if k.startswith(prefix)}

    def render_location(self, values: dict[str, str]) -> str:
        text = self.location_template
        for key in self.partition_keys:
            text = text.replace("${" + key + "}", values[key])
        assert "${" not in text, f"unfilled placeholder in {text!r}"
        return text

    def location_regex(self, base: str) -> str:
        """A regex over local file paths (the bucket's keys under `base`) that captures every
        partition key, in `partition_keys` order, from the location template."""
        s3_root = self.location_template.split("/", 3)
        assert s3_root[:2] == ["s3:", ""], self.location_template
        relative = s3_root[3]
        pattern = re.escape(base.rstrip("/") + "/")
        for piece in re.split(r"(\$\{[^}]+\})", relative):
            match = re.fullmatch(r"\$\{([^}]+)\}", piece)
            pattern += "([^/]+)" if match else re.escape(piece)
        return "^" + pattern

    def projected_values(self, key: str, written: set[str], now: datetime) -> set[str]:
        """Which of `written` Athena's projection of `key` generates (date projections only)."""
        config = self.projection(key)
        assert config.get("type") == "date", f"projection.{key}.type is {config.get('type')!r}"
        fmt = strftime_pattern(config["format"])
        low_text, high_text = config["range"].split(",")
        low = projection_bound(low_text, fmt, now)
        high = projection_bound(high_text, fmt, now)
        unit = config.get("interval.unit", "DAYS").upper()
        step = _UNITS[unit] * int(config.get("interval", "1"))
        accepted = set()
        for value in written:
            try:
                instant = datetime.strptime(value, fmt).replace(tzinfo=UTC)
            except ValueError:
                continue
            on_grid = (instant - low) % step == timedelta(0)
            if low <= instant <= high and on_grid and instant.strftime(fmt) == value:
                accepted.add(value)
        return accepted

    # -- DuckDB ------------------------------------------------------------------------------
    def duckdb_columns(self) -> dict[str, str]:
        return {name: duckdb_type(kind) for name, kind in self.columns.items()}

    def relation_sql(self, files: list[Path], base: Path) -> str:
        """A SELECT over local copies of the table's files (keys kept below `base`, which stands
        for `s3://<bucket>/`), with the data columns of the table and its partition keys."""
        assert self.serde in JSON_SERDES, f"the table is not JSON ({self.serde})"
        assert self.storage["InputFormat"] == "org.apache.hadoop.mapred.TextInputFormat"
        compression = "gzip" if self.parameters.get("compressionType") == "gzip" else "auto"
        columns = ", ".join(
            f"{_sql_str(n)}: {_sql_str(t)}" for n, t in self.duckdb_columns().items()
        )
        paths = ", ".join(_sql_str(str(f)) for f in files)
        regex = self.location_regex(str(base))
        selected = ", ".join(_sql_ident(name) for name in self.columns)
        partitions = ", ".join(
            f"CAST(regexp_extract(filename, {_sql_str(regex)}, {i}) AS "
            f"{duckdb_type(kind)}) AS {_sql_ident(name)}"
            for i, (name, kind) in enumerate(self.partition_keys.items(), start=1)
        )
        return (
            f"SELECT {selected}, {partitions}, filename AS _file "
            f"FROM read_json([{paths}], format = 'newline_delimited', "
            f"compression = {_sql_str(compression)}, columns = {{{columns}}}, "
            f"hive_partitioning = false, filename = true)"
        )


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _sql_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# --------------------------------------------------------------------------- Trino JSON functions
# Athena's json_extract_scalar under DuckDB's name, json_extract_string, made to behave like
# Trino's: NULL (not an error) when the text is not JSON (a metadata string such as
# 'plain text'), and NULL when the path leads to an object or array (DuckDB would return its
# JSON text).
JSON_EXTRACT_SCALAR = (
    "CREATE MACRO json_extract_scalar(j, p) AS "
    "CASE WHEN json_valid(j) AND json_type(j, p) NOT IN ('OBJECT', 'ARRAY') "
    "THEN json_extract_string(j, p) END"
)


# --------------------------------------------------------------------------- expectations
def as_text(value: Any) -> str | None:
    """A JSON value the way a JSON SerDe shows it in a string column: text as is, anything else
    as compact JSON (numbers and booleans as their literal, objects and arrays as JSON text).

    DuckDB's read_json does the same for a VARCHAR column, so `relation_sql` reads a `string`
    column holding any JSON value the way the OpenX JSON SerDe does."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def utc_date(timestamp: str) -> date:
    """The UTC date of an ISO 8601 timestamp (computed here, independently of the exporter)."""
    instant = datetime.fromisoformat(timestamp)
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(UTC).date()
