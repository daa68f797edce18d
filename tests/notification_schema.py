"""The documented JSON Schema of the SQS notification body (docs/schemas/), as a validator."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import jsonschema

from tests.cfn import ROOT

SCHEMA = ROOT / "docs" / "schemas" / "notification.schema.json"


@cache
def validator() -> Any:
    schema = json.loads(SCHEMA.read_text())
    validator_class = jsonschema.validators.validator_for(schema)
    assert validator_class is jsonschema.Draft202012Validator, "the schema names draft 2020-12"
    validator_class.check_schema(schema)
    return validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)


def check_body(body: str) -> dict[str, Any]:
    """The parsed body; raises jsonschema.ValidationError unless it matches the schema."""
    message: dict[str, Any] = json.loads(body)
    validator().validate(message)
    return message
