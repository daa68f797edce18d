"""Placing one record: its dedupe key, its instant, and what (if anything) keeps it out of S3."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from leadlex_exporter.state import content_hash, id_hash
from leadlex_exporter.timestamps import parse_timestamp


def identify(raw: Any) -> tuple[bytes, datetime | None, str | None]:
    """(dedupe key, instant, problem) of one record; problem is None for a placeable event."""
    if not isinstance(raw, dict):
        return content_hash(raw), None, "record is not a JSON object"
    instant = parse_timestamp(raw.get("timestamp"))
    event_id = raw.get("id")
    if type(event_id) is str and event_id and not event_id.isspace():  # the usual case
        if instant is None:
            return id_hash(event_id), None, "record has no readable timestamp"
        return id_hash(event_id), instant, None
    has_id = (
        isinstance(event_id, str | int)
        and not isinstance(event_id, bool)
        and (str(event_id).strip() != "")
    )
    key = id_hash(event_id) if has_id else content_hash(raw)
    if not has_id:
        return key, instant, "record has no id"
    if instant is None:
        return key, None, "record has no readable timestamp"
    return key, instant, None
