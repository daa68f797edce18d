"""Many cheap events at once (scale tests): payloads formatted directly, no dicts, no json.dumps."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator
from datetime import datetime

from leadlex_sandbox.records import Entry
from leadlex_sandbox.timestamps import to_micros

_TYPES = ("sent", "delivered", "opened", "clicked", "replied", "bounced", "unsubscribed")
_CUMULATIVE_WEIGHTS = (34, 66, 86, 93, 96, 98, 100)
_METADATA = {
    "opened": (
        '{"user_agent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64)","ip_country":"DE"}',
        '{"user_agent":"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X)","ip_country":"US"}',
    ),
    "clicked": ('{"url":"https://leadlex.com/demo"}', '{"url":"https://leadlex.com/pricing"}'),
    "replied": ('{"snippet":"Sounds interesting, send me more","sentiment":"positive"}',),
    "bounced": ('{"bounce_type":"hard"}', '{"bounce_type":"soft"}'),
}
_TEMPLATE = (
    '{"id":"%s","type":"%s","contact_id":"%s","email":"%s","step_id":"step_%d",'
    '"timestamp":"%s","metadata":%s}'
)
_ID_SPACE = 1 << 48
_ID_STRIDE = 0x9E3779B97F4B  # odd, so i -> base + i * stride is a bijection mod 2**48


def bulk_entries(n: int, start: datetime, end: datetime, seed: int = 0) -> Iterator[Entry]:
    """`n` events at whole seconds spread evenly over [start, end] (several may share one)."""
    if n <= 0:
        return
    first, last = to_micros(start) // 1_000_000, to_micros(end) // 1_000_000
    if last < first:
        raise ValueError("end must not be before start")
    rng = random.Random(seed)
    contacts = [_contact(rng, k) for k in range(max(1, n // 4))]
    kinds = rng.choices(_TYPES, cum_weights=_CUMULATIVE_WEIGHTS, k=n)
    picks = rng.choices(range(len(contacts)), k=n)
    base = rng.getrandbits(48)
    span = last - first
    stamp_second, stamp = -1, ""
    for i in range(n):
        second = first + (span * i // (n - 1) if n > 1 else 0)
        if second != stamp_second:
            stamp_second, stamp = second, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))
        kind = kinds[i]
        contact_id, email = contacts[picks[i]]
        event_id = "evt_%012x" % ((base + i * _ID_STRIDE) % _ID_SPACE)
        variants = _METADATA.get(kind, ("{}",))
        payload = _TEMPLATE % (
            event_id,
            kind,
            contact_id,
            email,
            1 + i % 3,
            stamp,
            variants[i % len(variants)],
        )
        yield (second * 1_000_000, event_id, kind, contact_id, payload.encode())


def _contact(rng: random.Random, k: int) -> tuple[str, str]:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4)), f"lead{k:06d}@example.com"
