"""ISO 8601 parsing to integer microseconds, and the UTC formats the sandbox prints."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def parse_instant(text: object) -> datetime | None:
    """An aware datetime for any ISO 8601 string Python accepts; naive means UTC; else None."""
    if not isinstance(text, str) or not text:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def to_micros(moment: datetime) -> int:
    """Exact microseconds since the epoch (no float rounding), the store's sort key."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - EPOCH) // _MICROSECOND


def from_micros(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=micros)


def format_utc(moment: datetime) -> str:
    """`YYYY-MM-DDTHH:MM:SSZ`, the documented event timestamp format."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def next_midnight(moment: datetime) -> datetime:
    """The next 00:00 UTC strictly after `moment`, when the daily quota resets."""
    day = moment.astimezone(UTC).date() + timedelta(days=1)
    return datetime.combine(day, time(), tzinfo=UTC)
