"""Realistic LeadLex campaign events for the Athena tests, and the run that exports them.

Contacts walk sent -> delivered -> opened -> clicked -> replied; some bounce, unsubscribe or
complain. Metadata takes the shapes seen per type (empty, null, flat, nested objects, arrays,
numbers, booleans), some records carry fields the API does not document yet, one type is unknown,
and a few timestamps carry an offset or a fraction, placing them on another UTC date than the
one they print.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tests.athena.glue import EventsTable
from tests.conftest import BUCKET, Stack, run_exporter
from tests.fakes import FakeClock, FakeLeadLex

KEY = "wbk_" + "b" * 52
WORKSPACE = "a/b c"  # a workspace label that must be percent-encoded in the key
ODD_CAMPAIGN = "cmp/x y%z"  # and a campaign id that must be, too
PLAIN_CAMPAIGN = "cmp_plain"
UNDOCUMENTED_FIELDS = {"ab_variant", "thread"}
URLS = [
    "https://acme.example/pricing?utm_source=leadlex&utm_medium=email",
    "https://acme.example/demo",
    "https://acme.example/blog/launch-week",
]


def _ts(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%SZ")


def campaign_events(tag: str, now: datetime, contacts: int = 20) -> list[dict[str, Any]]:
    """One campaign's events, all at least 6 minutes older than `now` (so one run exports all)."""
    events: list[dict[str, Any]] = []

    def emit(
        kind: str, contact: int, step: int | None, at: datetime | str, metadata: Any, **extra: Any
    ) -> None:
        events.append(
            {
                "id": f"evt_{tag}_{len(events):04d}",
                "type": kind,
                "contact_id": f"00000000-0000-4000-8000-{contact:012d}",
                "email": None if contact == 7 else f"person{contact}@example.com",
                "step_id": None if step is None else f"step_{step}",
                "timestamp": at if isinstance(at, str) else _ts(at),
                "metadata": metadata,
                **extra,
            }
        )

    day0 = now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=3)
    for i in range(contacts):
        sent = day0 + timedelta(days=i % 4, hours=8, minutes=7 * i)
        extra = {"ab_variant": "AB"[i % 2]} if i % 2 == 0 else {}
        emit("sent", i, 1, sent, {}, **extra)
        if i % 7 == 3:
            emit(
                "bounced",
                i,
                1,
                sent + timedelta(seconds=20),
                {"bounce_type": "hard", "reason": "mailbox does not exist"},
            )
            continue
        emit("delivered", i, 1, sent + timedelta(seconds=1), None if i % 5 == 0 else {})
        if i % 3 == 2:
            continue
        opened = sent + timedelta(minutes=40 + i)
        opened_text = opened.strftime("%Y-%m-%dT%H:%M:%S.123Z") if i % 5 == 1 else _ts(opened)
        emit(
            "opened",
            i,
            1,
            opened_text,
            {
                "user_agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1)",
                "ip_country": "DE" if i % 2 else "US",
                "geo": {"city": None, "lat": 52.52, "lon": 13.405},
                "tags": ["mobile", "dark-mode"],
                "is_bot": False,
                "open_count": 1 + i % 3,
            },
        )
        if i % 2 == 0:
            emit(
                "clicked",
                i,
                1,
                opened + timedelta(seconds=6),
                {"url": URLS[i % len(URLS)], "link_index": i % len(URLS)},
            )
        if i % 4 == 0:
            emit(
                "replied",
                i,
                1,
                opened + timedelta(hours=2, minutes=i),
                {"snippet": "Sounds good — can we talk Tuesday?", "sentiment": "positive"},
                thread={"id": f"thr_{tag}_{i}", "depth": 2, "labels": ["inbound"]},
            )
        elif i % 4 == 1:
            emit("unsubscribed", i, 1, opened + timedelta(minutes=2), {"source": "footer_link"})
        elif i % 9 == 5:
            emit("complained", i, 1, opened + timedelta(minutes=9), {"feedback_type": "abuse"})
        if i % 4 == 2:
            emit("sent", i, 2, sent + timedelta(days=1, minutes=3), {})
    # An event type the API does not document, with null step and odd metadata.
    emit("forwarded", 6, None, day0 + timedelta(days=1, hours=15), {"to_domain": "example.org"})
    # Offsets that put the event on another UTC date than the one it prints.
    edge = day0 + timedelta(days=1)  # midnight UTC, two days before now's date
    local_evening = (edge + timedelta(hours=1, minutes=30) - timedelta(hours=3)).strftime(
        "%Y-%m-%dT%H:%M:%S-03:00"
    )  # prints the day before, is 01:30Z on `edge`'s date
    emit("opened", 20, 1, local_evening, {"user_agent": "Outlook", "ip_country": "BR"})
    local_morning = (edge - timedelta(hours=1) + timedelta(hours=2)).strftime(
        "%Y-%m-%dT%H:%M:%S.250+02:00"
    )  # prints `edge`'s date, is 23:00Z the day before
    emit("clicked", 20, 1, local_morning, {"url": URLS[0], "link_index": 0})
    cutoff = now - timedelta(minutes=6)
    return [e for e in events if datetime.fromisoformat(e["timestamp"]) <= cutoff]


@dataclass
class Export:
    """What one exporter run wrote, copied to `root` with the bucket's keys as paths."""

    root: Path
    keys: list[str]
    records: list[tuple[str, dict[str, Any]]]  # (key, record) under the export prefix
    summary: dict[str, Any]
    sent: dict[str, dict[str, Any]]  # event id -> the event as the API returned it


def given_workspace(
    stack: Stack, api: FakeLeadLex, events: dict[str, list[dict[str, Any]]]
) -> None:
    api.keys[KEY] = WORKSPACE
    api.campaigns[WORKSPACE] = [{"id": c, "name": c, "status": "active"} for c in events]
    api.events.update(events)
    stack.put_secret({"workspaces": [{"name": WORKSPACE, "api_key": KEY}]})


def export_and_download(
    stack: Stack,
    clock: FakeClock,
    api: FakeLeadLex,
    tmp: Path,
    env: dict[str, str],
    export_prefix: str,
) -> Export:
    summary = run_exporter(stack, clock, api, **env)
    keys = stack.s3_keys(export_prefix + "/")
    s3 = stack.session.client("s3")
    if tmp.exists():
        shutil.rmtree(tmp)
    for key in stack.s3_keys():
        target = tmp / key
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    sent = {str(e.get("id")): e for events in api.events.values() for e in events}
    return Export(
        root=tmp, keys=keys, records=stack.records(export_prefix + "/"), summary=summary, sent=sent
    )


def table_files(table: EventsTable, export: Export) -> list[Path]:
    """Every file under the table's Location: what Athena would read."""
    s3_base = f"s3://{BUCKET}/"
    assert table.location.startswith(s3_base), table.location
    local = export.root / table.location[len(s3_base) :]
    return sorted(p for p in local.rglob("*") if p.is_file())
