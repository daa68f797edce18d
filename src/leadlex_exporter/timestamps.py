"""Reading and printing the API's ISO 8601 timestamps.

Every comparison happens on aware UTC datetimes; the original string is never rewritten in the
exported record. Timestamps without an offset are taken as UTC (the API prints `Z`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

_FRACTION = re.compile(r"([T ]\d{2}:?\d{2}:?\d{2})[.,](\d+)")


def parse_timestamp(value: object) -> datetime | None:
    """The instant `value` names, in UTC, or None when it is not a readable ISO 8601 timestamp."""
    if not isinstance(value, str) or not 10 <= len(value) <= 64:
        return None
    if len(value) == 20 and value[10] == "T" and value[19] == "Z":
        # The API's own format (`2026-04-17T14:23:05Z`): the common case, read directly.
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    text = value.strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    # Python reads at most microseconds: cut longer fractions (nanoseconds) instead of failing.
    text = _FRACTION.sub(lambda m: f"{m.group(1)}.{m.group(2)[:6].ljust(6, '0')}", text, count=1)
    if "T" not in text and "t" not in text and len(text) <= 10:
        return None  # a bare date cannot place an event in time
    try:
        parsed = datetime.fromisoformat(text.replace("t", "T"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_timestamp(instant: datetime) -> str:
    """The API's own format, second precision, UTC: `2026-04-17T14:23:05Z`."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def floor_second(instant: datetime) -> datetime:
    return instant.replace(microsecond=0)


def to_epoch(instant: datetime) -> float:
    return instant.timestamp()


def from_epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def require_timestamp(text: str | None) -> datetime:
    """A timestamp this exporter wrote itself; anything else is a bug worth stopping for."""
    instant = parse_timestamp(text)
    if instant is None:
        raise ValueError(f"not a timestamp: {text!r}")
    return instant
