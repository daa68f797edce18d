"""What one commit writes: event records grouped into gzip JSON Lines objects.

Building is deterministic (same entries, same bytes), so a crashed commit can be rebuilt
byte for byte from its source object and overwrite what the crashed run already wrote.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from leadlex_exporter.state import content_hash, id_hash
from leadlex_exporter.timestamps import parse_timestamp

ADDED_FIELDS = ("workspace", "campaign_id")


@dataclass(frozen=True)
class EventEntry:
    event: dict[str, Any]  # exactly as the API returned it
    instant: datetime

    @property
    def event_date(self) -> str:
        return self.instant.strftime("%Y-%m-%d")


@dataclass(frozen=True)
class QuarantineEntry:
    raw: Any
    reason: str
    instant: datetime | None = None


Entry = EventEntry | QuarantineEntry


@dataclass(frozen=True)
class ObjectPlan:
    """One object to write: `target` is an event date (YYYY-MM-DD) or None for quarantine."""

    target: str | None
    lines: list[bytes]

    def body(self) -> bytes:
        return gzip.compress(b"".join(self.lines), compresslevel=6, mtime=0)


def dumps(value: Any) -> bytes:
    return (
        json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str).encode() + b"\n"
    )


def plan_objects(entries: Iterable[Entry], workspace: str, campaign_id: str) -> list[ObjectPlan]:
    """Event objects by date (ascending), then one quarantine object if needed."""
    by_target: dict[str | None, list[bytes]] = {}
    context = {"workspace": workspace, "campaign_id": campaign_id}
    for entry in entries:
        if isinstance(entry, EventEntry):
            record = {**entry.event, **{k: v for k, v in context.items() if k not in entry.event}}
            by_target.setdefault(entry.event_date, []).append(dumps(record))
        else:
            record = {"reason": entry.reason, "raw": entry.raw, **context}
            by_target.setdefault(None, []).append(dumps(record))
    dates = sorted(t for t in by_target if t is not None)
    plans = [ObjectPlan(target=d, lines=by_target[d]) for d in dates]
    if None in by_target:
        plans.append(ObjectPlan(target=None, lines=by_target[None]))
    return plans


def needs_staging(plans: list[ObjectPlan], entries: list[Entry]) -> bool:
    """A lone object is its own source, unless the API sent fields we would add ourselves."""
    if len(plans) != 1:
        return len(plans) > 1
    if plans[0].target is None:
        return False
    return any(
        isinstance(e, EventEntry) and any(f in e.event for f in ADDED_FIELDS) for e in entries
    )


def staging_body(entries: Iterable[Entry]) -> bytes:
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=6, mtime=0) as out:
        for entry in entries:
            if isinstance(entry, EventEntry):
                out.write(dumps({"e": entry.event}))
            else:
                instant = entry.instant.isoformat() if entry.instant else None
                out.write(dumps({"q": entry.reason, "raw": entry.raw, "t": instant}))
    return buffer.getvalue()


def entries_from_source(body: bytes, kind: str) -> list[Entry]:
    """Rebuild a commit's entries from its source object (`staging`, `events` or `quarantine`)."""
    entries: list[Entry] = []
    for line in _lines(body):
        item = json.loads(line)
        if kind == "staging" and "e" in item:
            entries.append(_event_entry(item["e"]))
        elif kind == "staging":
            entries.append(QuarantineEntry(item["raw"], item["q"], parse_timestamp(item.get("t"))))
        elif kind == "events":
            entries.append(_event_entry({k: v for k, v in item.items() if k not in ADDED_FIELDS}))
        else:
            entries.append(QuarantineEntry(item["raw"], item["reason"], None))
    return entries


def _event_entry(event: dict[str, Any]) -> EventEntry:
    instant = parse_timestamp(event.get("timestamp"))
    if instant is None:
        raise ValueError("a source object holds an event without a readable timestamp")
    return EventEntry(event, instant)


def _lines(body: bytes) -> Iterator[bytes]:
    with gzip.GzipFile(fileobj=io.BytesIO(body)) as stream:
        for line in stream:
            if line.strip():
                yield line


def identify(raw: Any) -> tuple[bytes, datetime | None, str | None]:
    """(dedupe key, instant, problem) of one record; problem is None for a placeable event."""
    if not isinstance(raw, dict):
        return content_hash(raw), None, "record is not a JSON object"
    instant = parse_timestamp(raw.get("timestamp"))
    event_id = raw.get("id")
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
