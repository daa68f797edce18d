"""One contact's path through a campaign: sent -> delivered -> opened -> clicked -> replied.

Some contacts bounce, unsubscribe or complain instead. Delivery usually lands in the same second
as the send and clicks within seconds of the open, so events often share a timestamp.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from leadlex_sandbox import catalog
from leadlex_sandbox.timestamps import format_utc

Emit = Callable[[str, int, datetime, dict[str, Any]], None]


@dataclass(frozen=True)
class Contact:
    id: str
    email: str


class EventIds:
    """`evt_` + 12 hex digits, unique within one generator."""

    def __init__(self, rng: random.Random) -> None:
        self._rng, self._seen = rng, set[str]()

    def next(self) -> str:
        while True:
            candidate = f"evt_{self._rng.getrandbits(48):012x}"
            if candidate not in self._seen:
                self._seen.add(candidate)
                return candidate


def new_contact(rng: random.Random) -> Contact:
    first, last = rng.choice(catalog.FIRST_NAMES), rng.choice(catalog.LAST_NAMES)
    email = f"{first}.{last}{rng.randint(1, 99)}@{rng.choice(catalog.COMPANY_DOMAINS)}"
    return Contact(str(uuid.UUID(int=rng.getrandbits(128), version=4)), email)


def journey(
    rng: random.Random, ids: EventIds, contact: Contact, first_send: datetime, steps: int
) -> list[dict[str, Any]]:
    """The contact's events in time order; it stops at a bounce, reply, unsubscribe or complaint."""
    events: list[dict[str, Any]] = []

    def emit(kind: str, step: int, at: datetime, metadata: dict[str, Any]) -> None:
        events.append(
            {
                "id": ids.next(),
                "type": kind,
                "contact_id": contact.id,
                "email": contact.email,
                "step_id": f"step_{step}",
                "timestamp": format_utc(at),
                "metadata": metadata,
            }
        )

    sent_at = first_send
    for step in range(1, steps + 1):
        emit("sent", step, sent_at, {})
        if rng.random() < 0.04:
            bounce_type, reason = rng.choice(catalog.BOUNCES)
            emit(
                "bounced",
                step,
                sent_at + _seconds(rng, 1, 40),
                {"bounce_type": bounce_type, "reason": reason},
            )
            return events
        delivered_at = sent_at + _seconds(rng, 0, 2)
        emit("delivered", step, delivered_at, {})
        if rng.random() < 0.45:
            opened_at = delivered_at + _seconds(rng, 60, 2 * 86400)
            emit(
                "opened",
                step,
                opened_at,
                {
                    "user_agent": rng.choice(catalog.USER_AGENTS),
                    "ip_country": rng.choice(catalog.COUNTRIES),
                },
            )
            if rng.random() < 0.3:
                emit(
                    "clicked",
                    step,
                    opened_at + _seconds(rng, 0, 8),
                    {"url": rng.choice(catalog.URLS)},
                )
            if _stops_after_open(rng, emit, step, opened_at):
                return events
        sent_at += timedelta(days=rng.randint(2, 4), seconds=rng.randint(0, 3600))
    return events


def _stops_after_open(rng: random.Random, emit: Emit, step: int, opened_at: datetime) -> bool:
    roll = rng.random()
    if roll < 0.12:
        snippet, sentiment = rng.choice(catalog.REPLIES)
        emit(
            "replied",
            step,
            opened_at + _seconds(rng, 300, 86400),
            {"snippet": snippet, "sentiment": sentiment},
        )
        return True
    if roll < 0.15:
        emit("unsubscribed", step, opened_at + _seconds(rng, 5, 600), {"source": "footer_link"})
        return True
    if roll < 0.155:
        emit("complained", step, opened_at + _seconds(rng, 5, 3600), {"feedback_type": "abuse"})
        return True
    return False


def _seconds(rng: random.Random, low: int, high: int) -> timedelta:
    return timedelta(seconds=rng.randint(low, high))
