"""A campaign's sync state: the watermark, the walks in progress and the recent event ids.

A *walk* pages through one pinned window [lo, hi] newest first. Its frontier (the oldest
timestamp seen so far and the ids seen at exactly that instant) makes it resumable across
invocations: a later page that starts with records newer than the frontier only repeats what
page shifts pushed down (events inserted above), so those are skipped, never lost.

`recent` holds 8-byte hashes of exported ids whose timestamp is within the lookback of the
watermark: the next window starts `lookback` before the watermark (late events), and these are
the only ids it can meet again. Its size is bounded by the events of one lookback window.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from leadlex_exporter.timestamps import parse_timestamp

_ENTRY = struct.Struct(">8sq")  # id hash, timestamp in whole seconds
PAGE_SIZE = 100  # events per page the walks ask for (leadlex.PER_PAGE)


def id_hash(event_id: object) -> bytes:
    return hashlib.blake2b(str(event_id).encode("utf-8", "surrogatepass"), digest_size=8).digest()


def content_hash(raw: object) -> bytes:
    text = json.dumps(raw, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.blake2b(b"raw:" + text.encode("utf-8", "surrogatepass"), digest_size=8).digest()


class RecentIds:
    def __init__(self, entries: dict[bytes, int] | None = None):
        self.entries: dict[bytes, int] = dict(entries or {})

    def __contains__(self, key: bytes) -> bool:
        return key in self.entries

    def __len__(self) -> int:
        return len(self.entries)

    def add(self, key: bytes, instant: datetime) -> None:
        self.entries[key] = int(instant.timestamp())

    def prune(self, before: datetime) -> None:
        # Whole seconds, one second of slack: never drop an id the next window can still meet.
        cutoff = int(before.timestamp()) - 1
        self.entries = {k: t for k, t in self.entries.items() if t >= cutoff}

    def limit(self, size: int) -> bool:
        """Keep the `size` newest ids (an item must stay under DynamoDB's 400 KB); True if cut."""
        if len(self.entries) <= size:
            return False
        newest = sorted(self.entries.items(), key=lambda item: item[1])[-size:]
        self.entries = dict(newest)
        return True

    def copy(self) -> RecentIds:
        return RecentIds(self.entries)

    def to_bytes(self) -> bytes:
        return b"".join(_ENTRY.pack(k, t) for k, t in sorted(self.entries.items()))

    @classmethod
    def from_bytes(cls, blob: bytes | None) -> RecentIds:
        if not blob:
            return cls()
        return cls({k: t for k, t in _ENTRY.iter_unpack(blob)})


@dataclass
class Walk:
    kind: str  # "backfill" (the first sync) or "fresh" (new events since the watermark)
    lo: str | None  # from_date as sent; None: no lower bound
    hi: str  # to_date as sent
    next_page: int = 1
    frontier: str | None = None  # ISO instant of the oldest timestamp seen in this walk
    frontier_ids: list[bytes] = field(default_factory=list)
    unplaced_ids: list[bytes] = field(default_factory=list)  # records without a timestamp
    total: int | None = None  # the API's count of the window's events (meta.total), last read

    @property
    def hi_instant(self) -> datetime:
        instant = parse_timestamp(self.hi)
        assert instant is not None
        return instant

    @property
    def frontier_instant(self) -> datetime | None:
        return parse_timestamp(self.frontier) if self.frontier else None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "lo": self.lo,
            "hi": self.hi,
            "next_page": self.next_page,
            "frontier": self.frontier,
            "frontier_ids": _b64(self.frontier_ids),
            "unplaced_ids": _b64(self.unplaced_ids),
            **({"total": self.total} if self.total is not None else {}),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Walk | None:
        if not data:
            return None
        return cls(
            kind=data["kind"],
            lo=data.get("lo"),
            hi=data["hi"],
            next_page=int(data["next_page"]),
            frontier=data.get("frontier"),
            frontier_ids=_unb64(data.get("frontier_ids")),
            unplaced_ids=_unb64(data.get("unplaced_ids")),
            total=int(data["total"]) if data.get("total") is not None else None,
        )

    def progress(self) -> tuple[int, int] | None:
        """(events, calls) still to read in this walk, by the API's count; None before the
        first page."""
        if self.total is None:
            return None
        events = max(0, self.total - (self.next_page - 1) * PAGE_SIZE)
        return events, -(-events // PAGE_SIZE)


@dataclass
class CampaignState:
    watermark: str | None = None  # windows up to here are done (or owned by the backfill walk)
    backfill: Walk | None = None
    fresh: Walk | None = None
    # The lower bound of the history this campaign exports: the first sync's from_date, then
    # that of every history load asked for since (`backfill` in the CLI); "" for all the API
    # holds. Events older than it were never read.
    history_from: str | None = None

    def to_json(self) -> str:
        return json.dumps(
            {
                "watermark": self.watermark,
                "backfill": self.backfill.to_json() if self.backfill else None,
                "fresh": self.fresh.to_json() if self.fresh else None,
                **({"history_from": self.history_from} if self.history_from is not None else {}),
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str | None) -> CampaignState:
        if not text:
            return cls()
        data = json.loads(text)
        return cls(
            watermark=data.get("watermark"),
            backfill=Walk.from_json(data.get("backfill")),
            fresh=Walk.from_json(data.get("fresh")),
            history_from=data.get("history_from"),
        )


def _b64(items: list[bytes]) -> str:
    return base64.b64encode(b"".join(items)).decode()


def _unb64(text: str | None) -> list[bytes]:
    blob = base64.b64decode(text or "")
    return [blob[i : i + 8] for i in range(0, len(blob), 8)]
