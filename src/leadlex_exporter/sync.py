"""The use case for one campaign: checkpoint -> fetch -> write S3 -> notify SQS -> commit.

Pages are read in *walks* over windows pinned at a run's start (state.py says why they never
skip or repeat); each page goes into the workspace's commit group (group.py), which makes it
durable exactly once together with the state after it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from concurrent.futures import Future
from datetime import datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger

from leadlex_exporter.checkpoints import Checkpoint
from leadlex_exporter.context import CampaignStats, RunContext
from leadlex_exporter.errors import QuotaExhaustedError
from leadlex_exporter.group import CommitGroup, MemberResult, Record
from leadlex_exporter.identity import identify
from leadlex_exporter.leadlex import PER_PAGE, EventsPage, LeadLexClient
from leadlex_exporter.planner import Found, activity
from leadlex_exporter.quota import Purpose
from leadlex_exporter.state import Walk
from leadlex_exporter.timestamps import format_timestamp, require_timestamp

logger = Logger(child=True)

# A first sync whose history is at most this many pages past its newest ones reads it in the
# fresh pass, right after them, when the quota can spare it: one commit for the campaign
# instead of two (a pending and a commit write fewer), for at most this many calls of delay
# before the next campaign's fresh pages.
SHORT_HISTORY_PAGES = 10


class CampaignSync:
    def __init__(
        self,
        run: RunContext,
        workspace: str,
        campaign_id: str,
        client: LeadLexClient,
        checkpoint: Checkpoint,
        group: CommitGroup,
    ):
        self.run = run
        self.workspace = workspace
        self.campaign_id = campaign_id
        self.client = client
        self.cp = checkpoint  # as leased; the group keeps where its next commit starts
        self.state = checkpoint.state
        self.group = group
        self.released = False  # the lease went with the last commit
        self.stopped = False  # its group failed to commit: memory is ahead of DynamoDB
        self._ahead: tuple[Walk, int, Future[EventsPage]] | None = None  # see prefetch()
        self._total: int | None = None  # the API's total for the walk of the last page read
        self.stats = CampaignStats()
        self.activity = Found()  # what its pages say of how active it is (planner.activity)
        self.window_activity = Found()  # of those, the pages read on fresh budget

    def apply(self, result: MemberResult) -> None:
        """What became of a commit of this campaign's pages (group.py)."""
        if not result.committed:
            self.stopped = True
            return
        self.released = result.released
        self.stats.commits += 1
        self.stats.exported += result.exported
        self.stats.quarantined += result.quarantined
        self.stats.notified += result.notified

    # -- the two phases of a run: fresh events first, history with what the quota leaves ----
    def sync(self, purpose: Purpose) -> None:
        """This phase of the campaign, to its end, on its own."""
        steps = self.steps(purpose)
        try:
            future = next(steps)
            while True:
                try:
                    page = future.result()
                except Exception as exc:  # noqa: BLE001 - re-raised where the walk waits
                    future = steps.throw(exc)
                else:
                    future = steps.send(page)
        except StopIteration:
            return

    def steps(self, purpose: Purpose) -> Generator[Future[EventsPage], EventsPage, None]:
        """This phase of the campaign as a generator: it yields the future of each page it
        needs and takes the page back, so that a driver can take the pages of two campaigns
        as they come (exporter.Lanes). The pages of one walk still come one after another."""
        if self.stopped:
            return
        self._start_if_new()
        if purpose is Purpose.BACKFILL:
            if self.state.backfill:
                yield from self._run_walk(self.state.backfill, purpose)
            return
        if self.state.backfill and not self._fresh_allowed():
            # The newest page(s) of a first sync are fresh events: fetch them with fresh
            # budget, down to where fresh windows can take over; the history waits its turn.
            yield from self._run_walk(self.state.backfill, purpose, until=self._fresh_allowed)
            if self._short_history():
                yield from self._read_short_history()
        self._open_fresh()
        if self.state.fresh:
            yield from self._run_walk(self.state.fresh, purpose)

    def _short_history(self) -> bool:
        """The rest of a first sync's history is short, and the quota can spare it now."""
        walk = self.state.backfill
        if walk is None or self._total is None or self.stopped:
            return False
        left = math.ceil(self._total / PER_PAGE) - (walk.next_page - 1)
        return 0 < left <= SHORT_HISTORY_PAGES and self.client.quota.can_spare(
            left, Purpose.BACKFILL
        )

    def _read_short_history(self) -> Generator[Future[EventsPage], EventsPage, None]:
        """The history, on backfill budget. Should that budget run out meanwhile (other lanes
        spend too), the rest waits for the backfill phase; the fresh pass goes on."""
        assert self.state.backfill is not None  # noqa: S101 - checked by _short_history
        try:
            yield from self._run_walk(self.state.backfill, Purpose.BACKFILL)
        except QuotaExhaustedError:
            if self.client.quota.state.exhausted:
                raise  # the API says the day is spent: nothing else can be read either
            logger.info(
                "short history left for the backfill phase",
                workspace=self.workspace,
                campaign_id=self.campaign_id,
            )

    def prefetch(self, purpose: Purpose) -> None:
        """Start fetching the first page this phase will read (while another campaign is
        synced): the walk it starts with is known before it runs, and its first page is
        always read."""
        if self.stopped:
            return
        try:
            self._start_if_new()
            walk = self.state.backfill
            if purpose is Purpose.FRESH and not (walk and not self._fresh_allowed()):
                self._open_fresh()
                walk = self.state.fresh
        except ValueError:
            return  # a damaged state: sync() meets it again and reports it for this campaign
        if walk is not None:
            self._ahead = (walk, walk.next_page, self._fetch(walk, walk.next_page, purpose))

    def _open_fresh(self) -> None:
        if self.state.fresh is None and self._fresh_allowed():
            watermark = require_timestamp(self.state.watermark)
            if watermark < self.run.window_end:
                lo = format_timestamp(watermark - self.run.window_lookback(self._api_behind()))
                self.state.fresh = Walk("fresh", lo, format_timestamp(self.run.window_end))

    def _api_behind(self) -> float:
        """Seconds the API's clock runs behind ours: measured this run, or remembered."""
        skew = self.client.clock_skew
        remembered = self.client.quota.state.api_behind
        return max(remembered, -skew if skew is not None else 0.0)

    @property
    def caught_up(self) -> bool:
        """Polled up to this run's window end: its fresh events are all read."""
        return (
            self.state.fresh is None
            and self.state.watermark == format_timestamp(self.run.window_end)
            and self._fresh_allowed()
        )

    @property
    def watermark_seconds(self) -> float | None:
        watermark = self.state.watermark
        return None if watermark is None else require_timestamp(watermark).timestamp()

    @property
    def needs_backfill(self) -> bool:
        return self.state.watermark is None or self.state.backfill is not None

    def _start_if_new(self) -> None:
        if self.state.watermark is not None:
            return
        days = self.run.settings.backfill_days
        lo = format_timestamp(self.run.window_end - timedelta(days=days)) if days else None
        end = format_timestamp(self.run.window_end)
        self.state.backfill = Walk("backfill", lo, end)
        self.state.watermark = end
        self.state.history_from = lo or ""

    def extend_history(self, lo: datetime, hi: datetime) -> tuple[bool, str]:
        """Queue the history [lo, hi] this campaign never read (`backfill` of the CLI) as its
        backfill walk. Returns whether the request is met (nothing more to queue) and what
        happened. Only history older than `history_from` is read: what the campaign exported
        already is never asked for again. The walk starts with its frontier just below
        `history_from`, so a record at that instant (exported by the walk before) is skipped.
        The walk and the new `history_from` are committed together with its first page."""
        state = self.state
        if state.watermark is None:
            return False, "waiting for the first sync to start"
        if state.backfill is not None:
            return False, "waiting for the history walk in progress"
        if state.history_from == "":
            return True, "nothing to read: the history is complete"
        start = require_timestamp(state.history_from)
        if lo >= start:
            return True, f"nothing to read: the history already starts at {state.history_from}"
        end = min(hi, start)
        walk = Walk("backfill", format_timestamp(lo), format_timestamp(end))
        walk.frontier = (start - timedelta(microseconds=1)).isoformat()
        state.backfill, state.history_from = walk, walk.lo
        return False, f"history from {walk.lo} to {walk.hi} queued"

    def _fresh_allowed(self) -> bool:
        """Fresh windows may start once the backfill has walked below their lower bound."""
        backfill = self.state.backfill
        if backfill is None:
            return True
        frontier = backfill.frontier_instant
        return (
            frontier is not None
            and frontier < require_timestamp(self.state.watermark) - self.run.lookback
        )

    # -- paging one pinned window ------------------------------------------------------------
    def _run_walk(
        self, walk: Walk, purpose: Purpose, until: Callable[[], bool] | None = None
    ) -> Generator[Future[EventsPage], EventsPage, None]:
        # While a page is processed, the next one is already on its way, when the API's total
        # says it exists (never a call to discover an empty page) and nothing else decides
        # whether to go on (`until`).
        ahead: Future[EventsPage] | None = None
        if self._ahead and self._ahead[0] is walk and self._ahead[1] == walk.next_page:
            ahead = self._ahead[2]
        self._ahead = None
        while (until is None or not until()) and not self.stopped:
            page = yield ahead or self._fetch(walk, walk.next_page, purpose)
            ahead = None
            self._total = walk.total = page.total
            more = page.total is not None and walk.next_page * PER_PAGE < page.total
            if until is None and page.events and more:
                ahead = self._fetch(walk, walk.next_page + 1, purpose)
            self.stats.pages += 1
            records, advance = self._absorb(walk, page.events)
            found = activity(
                ((_type_of(r.raw), r.instant) for r in records),
                self.run.window_end,
                self.run.settings.notify_event_types,
            )
            self.activity += found
            if purpose is Purpose.FRESH:
                self.window_activity += found
            # The group may commit before taking the page: the state is the one before it.
            self.group.admit(self, records)
            if self.stopped:  # admitting settled a group of this campaign that failed:
                return  # this page builds on it, so it stays out of the next group
            self.group.add(self, records, walk.hi_instant)
            advance()
            walk.next_page += 1
            done = (
                len(page.events) < PER_PAGE
                if page.total is None
                else (walk.next_page - 1) * PER_PAGE >= page.total or not page.events
            )
            if done:
                self._finish(walk)
            self.group.settle()
            if done:
                return

    def _fetch(self, walk: Walk, number: int, purpose: Purpose) -> Future[EventsPage]:
        return self.client.fetch(self.campaign_id, number, walk.lo, walk.hi, purpose)

    def _absorb(self, walk: Walk, events: list[Any]) -> tuple[list[Record], Callable[[], None]]:
        """The page's records not seen before, and how the walk moves past the page (applied
        once the group holds them)."""
        frontier = walk.frontier_instant
        known_at_frontier = set(walk.frontier_ids)
        unplaced = set(walk.unplaced_ids)
        page_seen: set[bytes] = set()
        placed: list[tuple[datetime, bytes]] = []
        new_unplaced: list[bytes] = []
        records: list[Record] = []
        recent, unsaved = self.group.known_ids(self)
        for raw in events:
            key, instant, problem = identify(raw)
            if key in page_seen:
                self.stats.duplicates_skipped += 1
                continue
            page_seen.add(key)
            if instant is not None:
                placed.append((instant, key))
                seen = frontier is not None and (
                    instant > frontier or (instant == frontier and key in known_at_frontier)
                )
            else:
                seen = key in unplaced
                if not seen:
                    new_unplaced.append(key)
            if seen or key in recent or key in unsaved:
                self.stats.duplicates_skipped += 1
                continue
            if problem is None and instant is not None:
                records.append(Record(raw, key, instant, None))
            else:
                records.append(Record(raw, key, instant, problem or "unplaceable record"))

        def advance() -> None:
            walk.unplaced_ids.extend(new_unplaced)
            if placed:
                oldest = min(instant for instant, _ in placed)
                at_oldest = [k for instant, k in placed if instant == oldest]
                if frontier is None or oldest < frontier:
                    walk.frontier, walk.frontier_ids = oldest.isoformat(), at_oldest
                elif oldest == frontier:
                    walk.frontier_ids += [k for k in at_oldest if k not in known_at_frontier]

        return records, advance

    def _finish(self, walk: Walk) -> None:
        if walk.kind == "backfill":
            self.state.backfill = None
        else:
            self.state.watermark = walk.hi
            self.state.fresh = None


def _type_of(raw: Any) -> str | None:
    kind = raw.get("type") if isinstance(raw, dict) else None
    return kind if isinstance(kind, str) else None
