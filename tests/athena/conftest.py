from __future__ import annotations

from typing import Any

import pytest

from tests.athena.glue import EventsTable, Resolver, load_template
from tests.conftest import BUCKET

# The stack's resources as the test stack names them (tests/conftest.py creates them).
PHYSICAL = {"ExportBucket": BUCKET}


@pytest.fixture(scope="session")
def template() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="session")
def table(template: dict[str, Any]) -> EventsTable:
    return EventsTable.from_template(template, PHYSICAL)


@pytest.fixture(scope="session")
def prefixes(template: dict[str, Any]) -> dict[str, str]:
    """EXPORT_PREFIX and QUARANTINE_PREFIX as the template sets them for the
    exporter (so the run writes where the deployed function would)."""
    resolver = Resolver(template, PHYSICAL)
    (exporter,) = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Serverless::Function"
        and any(
            e.get("Type") in ("Schedule", "ScheduleV2")
            for e in r["Properties"].get("Events", {}).values()
        )
    ]
    variables = exporter["Environment"]["Variables"]
    names = ("EXPORT_PREFIX", "QUARANTINE_PREFIX")
    return {name: resolver.value(variables[name]) for name in names if name in variables}
