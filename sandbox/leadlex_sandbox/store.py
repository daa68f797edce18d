"""Per-campaign event storage: sorted lists bisected per query, late events held apart.

Each campaign keeps one sorted list of all visible records plus one per type and one per contact,
so a filtered page costs two bisections and a slice, never a scan of the campaign. Events that are
not visible yet wait in a small heap and are merged in when the sandbox clock reaches them.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from leadlex_sandbox.records import CONTACT, PAYLOAD, TYPE, Entry, Record

# Above this many new records, append-and-sort (timsort merges runs) beats one insort each.
_BULK_INSERT = 64


@dataclass(frozen=True)
class EventFilter:
    type: str | None = None
    contact_id: str | None = None
    from_micros: int | None = None  # inclusive
    to_micros: int | None = None  # inclusive


class SortedRecords:
    """Records ascending by (micros, id, seq); newest-first pages read it backwards."""

    __slots__ = ("records",)

    def __init__(self) -> None:
        self.records: list[Record] = []

    def add(self, new: list[Record]) -> None:
        if len(new) > _BULK_INSERT:
            self.records.extend(new)
            self.records.sort()
        else:
            for record in new:
                bisect.insort(self.records, record)

    def span(self, from_micros: int | None, to_micros: int | None) -> tuple[int, int]:
        """Index range of records with from <= micros <= to (a 1-tuple sorts before its kin)."""
        low = 0 if from_micros is None else bisect.bisect_left(self.records, (from_micros,))
        high = (
            len(self.records)
            if to_micros is None
            else bisect.bisect_left(self.records, (to_micros + 1,))
        )
        return low, max(low, high)


class CampaignEvents:
    def __init__(self) -> None:
        self._all = SortedRecords()
        self._by_type: dict[str, SortedRecords] = {}
        self._by_contact: dict[str, SortedRecords] = {}
        self._pending: list[tuple[int, int, Record]] = []  # heap of (visible_micros, seq, record)
        self._seq = itertools.count()

    @property
    def visible_count(self) -> int:
        return len(self._all.records)

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    def add(self, entries: Iterable[Entry], visible_micros: int | None = None) -> int:
        """Store entries now, or from `visible_micros` on; returns how many were added."""
        seq = self._seq
        records = [(m, i, next(seq), t, c, p) for (m, i, t, c, p) in entries]
        if visible_micros is None:
            self._index(records)
        else:
            for record in records:
                heapq.heappush(self._pending, (visible_micros, record[2], record))
        return len(records)

    def reveal(self, now_micros: int) -> None:
        """Move every pending record whose time has come into the sorted indexes."""
        ready: list[Record] = []
        while self._pending and self._pending[0][0] <= now_micros:
            ready.append(heapq.heappop(self._pending)[2])
        if ready:
            self._index(ready)

    def page(self, wanted: EventFilter, page: int, per_page: int) -> tuple[list[bytes], int]:
        """JSON payloads of one newest-first page, and the total count of matching events."""
        source = self._source_for(wanted)
        if source is None:
            return [], 0
        low, high = source.span(wanted.from_micros, wanted.to_micros)
        records = source.records
        if wanted.contact_id is not None and wanted.type is not None:
            # A contact has few events: filtering its slice by type is cheap.
            records = [r for r in records[low:high] if r[TYPE] == wanted.type]
            low, high = 0, len(records)
        end = high - (page - 1) * per_page
        start = max(low, end - per_page)
        chosen = records[start:end] if end > low else []
        return [record[PAYLOAD] for record in reversed(chosen)], high - low

    def _source_for(self, wanted: EventFilter) -> SortedRecords | None:
        if wanted.contact_id is not None:
            return self._by_contact.get(wanted.contact_id)
        if wanted.type is not None:
            return self._by_type.get(wanted.type)
        return self._all

    def _index(self, records: list[Record]) -> None:
        self._all.add(records)
        _add_grouped(self._by_type, records, TYPE)
        _add_grouped(self._by_contact, records, CONTACT)


def _add_grouped(
    index: dict[str, SortedRecords], records: list[Record], field: Literal[3, 4]
) -> None:
    groups: dict[str, list[Record]] = {}
    for record in records:
        groups.setdefault(record[field], []).append(record)
    for key, group in groups.items():
        index.setdefault(key, SortedRecords()).add(group)
