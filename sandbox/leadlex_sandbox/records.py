"""How one event is kept in memory: a compact tuple holding its sort key and its JSON bytes.

A stored record is `(micros, id, seq, type, contact_id, payload)`. `(micros, id, seq)` is unique
(seq is per campaign), so sorting never compares the last three fields. The payload is the event
serialised once at insertion: responses join payloads, they never re-encode events, and the
caller's dict can change afterwards without touching the store.
"""

from __future__ import annotations

import json
from typing import Any, Final

from leadlex_sandbox.timestamps import parse_instant, to_micros

Record = tuple[int, str, int, str, str, bytes]
# An entry is a record before the store numbers it: (micros, id, type, contact_id, payload).
Entry = tuple[int, str, str, str, bytes]

TYPE: Final = 3
CONTACT: Final = 4
PAYLOAD: Final = 5


def encode_event(event: Any) -> bytes:
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def entry_from_event(event: Any, fallback_micros: int) -> Entry:
    """Events with a missing or unparseable timestamp sort as if stamped `fallback_micros`."""
    fields = event if isinstance(event, dict) else {}
    moment = parse_instant(fields.get("timestamp"))
    micros = to_micros(moment) if moment is not None else fallback_micros
    return (
        micros,
        _as_text(fields.get("id")),
        _as_text(fields.get("type")),
        _as_text(fields.get("contact_id")),
        encode_event(event),
    )


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)
