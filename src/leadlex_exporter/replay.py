"""Replay: export a campaign's events of a date range again, without a duplicate for any reader.

Readers glob the export prefix, so no moment may exist where an id is in two objects or in none
that held it. So a replay never moves an id between objects:
  1. it takes the campaign's lease (the exporter's own, checkpoints.py) and refuses a campaign
     that is still in its first sync or has a commit pending;
  2. it fetches the campaign's events of the range from the API (100 a page, newest first),
     capped below `watermark - lookback`: newer events can still be read by the next fresh
     window, and an id replay added there could be exported twice;
  3. it reads every object of the range's partitions (this workspace) and rewrites each one
     holding records of this campaign that the API returned at the SAME key, one PUT
     (atomic for readers, conditional on the ETag it read), with those records replaced by the
     API's current values; every other line stays byte for byte;
  4. ids the API returned that no object holds (deleted downstream) go into one new object per
     date, written after the scan. A replay killed anywhere and run again lists S3 again and
     finds them: it rewrites them in place instead of adding them twice.
It keeps no state in DynamoDB: every step is safe to repeat, and a rerun finishes the job.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from leadlex_exporter import sink_s3
from leadlex_exporter.checkpoints import Checkpoint
from leadlex_exporter.clock import Clock
from leadlex_exporter.context import RunContext
from leadlex_exporter.errors import (
    ExporterError,
    LeadLexError,
    LeaseHeldError,
    OutOfTimeError,
    QuotaExhaustedError,
    ReplayBusyError,
    ReplayRefusedError,
)
from leadlex_exporter.group import dumps
from leadlex_exporter.identity import identify
from leadlex_exporter.leadlex import PER_PAGE, HttpFactory, LeadLexClient
from leadlex_exporter.quota import Purpose, QuotaGuard
from leadlex_exporter.settings import Settings
from leadlex_exporter.summary import RunSummary, WorkspaceResult
from leadlex_exporter.targets import Target
from leadlex_exporter.timestamps import format_timestamp, require_timestamp
from leadlex_exporter.workspaces import Workspace

logger = Logger(child=True)

CONFLICT_RETRIES = 3  # an object changed between our read and our PUT: read it again
# Events one replay holds (about 1 KB each in memory): past this, it stops at the next date
# boundary (`stopped_early: "size"`) with the newer dates done; `remaining` says what is left.
MAX_EVENTS = 50_000


@dataclass
class ReplayResult:
    workspace: str
    campaign_id: str
    requested: tuple[str, str]  # the dates asked for (inclusive)
    replayed: tuple[str, str] | None = None  # the dates done: capped, cut when stopped early
    replayed_until: str | None = None  # the newest instant replayed (watermark - lookback cap)
    dry_run: bool = False
    export_run: str = ""  # the run id: `export_run` of every record it wrote
    api_calls: int = 0
    api_calls_estimated: int | None = None  # dry run: ceil(records in S3 / 100), at least 1
    events_fetched: int = 0
    records_in_s3: int = 0  # this campaign's records found in the replayed dates
    records_rewritten: int = 0
    objects_rewritten: int = 0
    records_added: int = 0  # ids the API returned that no object held
    objects_added: int = 0
    records_not_in_api: int = 0  # kept as they were: the API no longer returns them
    unplaceable_skipped: int = 0  # API records without id or timestamp: never replayed
    objects_gone: int = 0  # deleted between our read and our write: left alone
    stopped_early: str | None = None  # "time", "quota" or "size" (MAX_EVENTS)
    remaining: tuple[str, str] | None = None  # stopped early: the dates to replay next

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Window:
    lo: datetime  # inclusive: the first date's 00:00 UTC
    hi: datetime  # inclusive: the last date's end or the cap, whichever is earlier

    def dates(self) -> list[date]:
        first, last = self.lo.date(), self.hi.date()
        return [first + timedelta(days=n) for n in range((last - first).days + 1)]

    def holds(self, instant: datetime) -> bool:
        return self.lo <= instant <= self.hi


@dataclass
class _Partition:
    """This campaign's records in one date's objects: ids per object, bodies to rewrite."""

    held: dict[str, set[bytes]] = field(default_factory=dict)  # object key -> our ids
    bodies: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # key -> body, ETag


def replay(
    run: RunContext,
    client: LeadLexClient | None,
    workspace: str,
    campaign_id: str,
    start: date,
    end: date,
    *,
    dry_run: bool = False,
) -> ReplayResult:
    """Replay `campaign_id` of `workspace` over the UTC dates [start, end].

    `client` (None only for a dry run) is the workspace key's API client over the key's
    QuotaGuard (the caller loads and saves the quota state around the call, as the exporter
    does); replay spends the
    backfill share of it. Raises ReplayRefusedError (ReplayBusyError: try later) before any
    call when the campaign cannot be replayed. `dry_run`: no API call and no write at all
    (not even the lease); the calls a replay would make are estimated from S3."""
    if start > end:
        raise ReplayRefusedError(f"the range starts after it ends ({start} > {end})")
    result = ReplayResult(workspace, campaign_id, (start.isoformat(), end.isoformat()))
    result.dry_run, result.export_run = dry_run, run.run_id
    if dry_run:
        checkpoint, owner, until_ms = run.store.peek(workspace, campaign_id)
        now_ms = int(run.clock.now().timestamp() * 1000)
        if owner is not None and owner != run.run_id and until_ms >= now_ms:
            raise ReplayBusyError("another invocation holds this campaign: try later")
        window = _window(run, checkpoint, start, end, result)
        if window is not None:
            _estimate(run, workspace, campaign_id, window, result)
        return result
    if client is None:
        raise ValueError("a replay that is not a dry run needs the workspace's API client")
    until_ms = int(run.deadline.ends_at.timestamp() * 1000)
    now_ms = int(run.clock.now().timestamp() * 1000)
    try:
        checkpoint = run.store.acquire(workspace, campaign_id, run.run_id, until_ms, now_ms)
    except LeaseHeldError:
        raise ReplayBusyError("another invocation holds this campaign: try later") from None
    try:
        window = _window(run, checkpoint, start, end, result)
        if window is not None:
            _replay(run, client, workspace, campaign_id, window, result)
    finally:
        run.store.release(checkpoint.pk, run.run_id)
    logger.info("replay done", **{k: v for k, v in result.to_json().items() if v})
    return result


def _window(
    run: RunContext, checkpoint: Checkpoint, start: date, end: date, result: ReplayResult
) -> _Window | None:
    """The range, capped below what fresh windows can still read; None when nothing is left."""
    state = checkpoint.state
    if checkpoint.pending is not None:
        raise ReplayBusyError("a commit of this campaign is pending: try later")
    if state.watermark is None:
        raise ReplayRefusedError("the campaign has not been exported yet: nothing to replay")
    if state.backfill is not None:
        raise ReplayRefusedError("the campaign is still in its first sync: try when it is done")
    # A fresh window starts at most run.lookback before the watermark, inclusive; the cap
    # stays a second below that, so no id replay writes can be read by one again.
    cap = require_timestamp(state.watermark) - run.lookback - timedelta(seconds=1)
    lo = datetime.combine(start, time(), tzinfo=UTC)
    hi = min(
        cap, datetime.combine(end + timedelta(days=1), time(), tzinfo=UTC) - timedelta(seconds=1)
    )
    if hi < lo:
        return None
    window = _Window(lo, hi)
    result.replayed = (start.isoformat(), hi.date().isoformat())
    result.replayed_until = format_timestamp(hi)
    return window


def _estimate(
    run: RunContext, workspace: str, campaign_id: str, window: _Window, result: ReplayResult
) -> None:
    try:
        for day in window.dates():
            for _key, _body, ours in _objects(run, workspace, day, campaign_id, window):
                result.records_in_s3 += len(ours)
    except OutOfTimeError:
        result.stopped_early = "time"  # the estimate counts what was read by then
    result.api_calls_estimated = max(1, math.ceil(result.records_in_s3 / PER_PAGE))


def _replay(
    run: RunContext,
    client: LeadLexClient,
    workspace: str,
    campaign_id: str,
    window: _Window,
    result: ReplayResult,
) -> None:
    fetched, complete_from = _fetch(client, campaign_id, window, result)
    dates = [d for d in window.dates() if complete_from is None or d >= complete_from]
    if not dates:
        _report_progress(result, window, dates, None)
        return
    done: date | None = None
    try:
        partitions = {d: _scan(run, workspace, campaign_id, d, window, result) for d in dates}
        present: set[bytes] = set()
        for partition in partitions.values():
            for ids in partition.held.values():
                present |= ids
        result.records_not_in_api = len(present - fetched.keys())
        for day in dates:
            _rewrite_partition(run, workspace, campaign_id, partitions[day], fetched, result)
            missing = [
                raw
                for key, (instant, raw) in fetched.items()
                if instant.date() == day and key not in present
            ]
            _add_missing(run, workspace, campaign_id, day, missing, result)
            done = day
    except OutOfTimeError:
        result.stopped_early = "time"
    _report_progress(result, window, dates, done)


def _report_progress(
    result: ReplayResult, window: _Window, dates: list[date], done: date | None
) -> None:
    """What was replayed, and after a stop what is left. Pages come newest first, so a stop
    while fetching leaves the oldest dates; the S3 phase goes oldest first, so a stop there
    leaves the newest. Both at once: the whole window is left (a replay may be repeated)."""
    whole = (window.lo.date().isoformat(), window.hi.date().isoformat())
    if done is None:
        result.replayed = None
        result.remaining = whole if result.stopped_early else None
        return
    older_left, newer_left = dates[0] != window.lo.date(), done != dates[-1]
    if older_left or newer_left:
        result.replayed = (dates[0].isoformat(), done.isoformat())
    if newer_left:
        end_of_done = datetime.combine(done + timedelta(days=1), time(), tzinfo=UTC)
        result.replayed_until = format_timestamp(end_of_done - timedelta(seconds=1))
    if older_left and newer_left:
        result.remaining = whole
    elif older_left:
        result.remaining = (whole[0], (dates[0] - timedelta(days=1)).isoformat())
    elif newer_left:
        result.remaining = ((done + timedelta(days=1)).isoformat(), whole[1])


def _fetch(
    client: LeadLexClient, campaign_id: str, window: _Window, result: ReplayResult
) -> tuple[dict[bytes, tuple[datetime, Any]], date | None]:
    """The campaign's events in the window by id, and the first date whose events are all in
    (None: every date; pages come newest first, so a stop leaves the oldest date unfinished).
    Past MAX_EVENTS it stops once a date is complete, never before: a replay always moves."""
    events: dict[bytes, tuple[datetime, Any]] = {}
    oldest: datetime | None = None
    newest: datetime | None = None
    lo, hi = format_timestamp(window.lo), format_timestamp(window.hi)
    calls_before = client.quota.calls
    number = 1
    try:
        while True:
            page = client.events_page(campaign_id, number, lo, hi, Purpose.BACKFILL)
            for raw in page.events:
                key, instant, problem = identify(raw)
                if problem is not None or instant is None:
                    result.unplaceable_skipped += 1
                    continue
                oldest = instant if oldest is None else min(oldest, instant)
                newest = instant if newest is None else max(newest, instant)
                if window.holds(instant):
                    events[key] = (instant, raw)
            if page.total is None and len(page.events) < PER_PAGE:
                break
            if page.total is not None and (number * PER_PAGE >= page.total or not page.events):
                break
            if len(events) >= MAX_EVENTS and oldest and newest and oldest.date() < newest.date():
                result.stopped_early = "size"
                break
            number += 1
    except QuotaExhaustedError:
        result.stopped_early = "quota"
    except OutOfTimeError:
        result.stopped_early = "time"
    finally:
        result.api_calls = client.quota.calls - calls_before
    result.events_fetched = len(events)
    if result.stopped_early is None:
        return events, None
    complete_from = (
        (oldest.date() + timedelta(days=1)) if oldest else window.hi.date() + timedelta(days=1)
    )
    return {k: v for k, v in events.items() if v[0].date() >= complete_from}, complete_from


def _objects(
    run: RunContext, workspace: str, day: date, campaign_id: str, window: _Window
) -> Iterator[tuple[str, tuple[bytes, str], set[bytes]]]:
    """Every object of the workspace's partition of `day`, with the ids of this campaign's
    records it holds inside the window."""
    prefix = sink_s3.partition_prefix(run.settings.export_prefix, day.isoformat(), workspace)
    for key in run.sink.list_keys(prefix):
        run.deadline.check()
        got = run.sink.get_versioned(key)
        if got is None:
            continue  # deleted since the listing (a rolled back group)
        ours = {k for k, instant in _ours(got[0], campaign_id) if window.holds(instant)}
        yield key, got, ours


def _ours(body: bytes, campaign_id: str) -> Iterator[tuple[bytes, datetime]]:
    for line in gzip.decompress(body).splitlines():
        record = _record(line, campaign_id)
        if record is not None:
            key, instant, problem = identify(record)
            if problem is None and instant is not None:
                yield key, instant


def _record(line: bytes, campaign_id: str) -> dict[str, Any] | None:
    """The line's record if it is one of this campaign's."""
    if not line.strip():
        return None
    record = json.loads(line)
    if isinstance(record, dict) and record.get("campaign_id") == campaign_id:
        return record
    return None


def _scan(
    run: RunContext,
    workspace: str,
    campaign_id: str,
    day: date,
    window: _Window,
    result: ReplayResult,
) -> _Partition:
    partition = _Partition()
    for key, got, ours in _objects(run, workspace, day, campaign_id, window):
        if ours:
            partition.held[key] = ours
            partition.bodies[key] = got
            result.records_in_s3 += len(ours)
    return partition


def _rewrite_partition(
    run: RunContext,
    workspace: str,
    campaign_id: str,
    partition: _Partition,
    fetched: dict[bytes, tuple[datetime, Any]],
    result: ReplayResult,
) -> None:
    context = _context(run, workspace, campaign_id)
    for key, ids in sorted(partition.held.items()):
        if not ids & fetched.keys():
            continue
        body, etag = partition.bodies.pop(key)
        for _attempt in range(CONFLICT_RETRIES):
            run.deadline.check()
            new_body, count = _rewritten(body, campaign_id, fetched, context)
            if run.sink.put_if(key, new_body, etag):
                result.records_rewritten += count
                result.objects_rewritten += 1
                break
            got = run.sink.get_versioned(key)  # changed meanwhile: read it again
            if got is None:
                result.objects_gone += 1
                logger.warning("replay: object deleted meanwhile, left alone", key=key)
                break
            body, etag = got
        else:
            raise ReplayBusyError(f"{key} keeps changing under the replay: try later")


def _rewritten(
    body: bytes,
    campaign_id: str,
    fetched: dict[bytes, tuple[datetime, Any]],
    context: dict[str, str],
) -> tuple[bytes, int]:
    """The object with this campaign's records the API returned replaced by the API's values;
    every other line as it was, byte for byte."""
    lines: list[bytes] = []
    count = 0
    for line in gzip.decompress(body).splitlines(keepends=True):
        record = _record(line, campaign_id)
        if record is not None:
            found = fetched.get(identify(record)[0])
            if found is not None:
                lines.append(dumps(_with_context(found[1], context)))
                count += 1
                continue
        lines.append(line if line.endswith(b"\n") else line + b"\n")
    return gzip.compress(b"".join(lines), compresslevel=6, mtime=0), count


def _add_missing(
    run: RunContext,
    workspace: str,
    campaign_id: str,
    day: date,
    missing: list[Any],
    result: ReplayResult,
) -> None:
    if not missing:
        return
    run.deadline.check()
    context = _context(run, workspace, campaign_id)
    missing.sort(key=lambda raw: (str(raw.get("timestamp")), str(raw.get("id"))))
    body = gzip.compress(
        b"".join(dumps(_with_context(raw, context)) for raw in missing), compresslevel=6, mtime=0
    )
    # one run may replay several campaigns: each gets its own object (the id's hash names it)
    tag = hashlib.blake2b(campaign_id.encode("utf-8", "surrogatepass"), digest_size=4).hexdigest()
    name = f"replay-{run.run_id}-{tag}-{day.strftime('%Y%m%d')}"
    key = sink_s3.event_object_key(run.settings.export_prefix, day.isoformat(), workspace, name)
    if not run.sink.put_if(key, body, None):
        raise ReplayRefusedError(f"{key} exists already; run ids are meant to be unique")
    result.records_added += len(missing)
    result.objects_added += 1


def _context(run: RunContext, workspace: str, campaign_id: str) -> dict[str, str]:
    return {
        "workspace": workspace,
        "campaign_id": campaign_id,
        "exported_at": format_timestamp(run.clock.now()),
        "export_run": run.run_id,
    }


def _with_context(raw: dict[str, Any], context: dict[str, str]) -> dict[str, Any]:
    """The API's record with the exporter's fields it did not send itself (its own win)."""
    return {**raw, **{k: v for k, v in context.items() if k not in raw}}


REPLAY_ERRORS = (ReplayRefusedError, LeadLexError, ClientError, BotoCoreError)


def replay_workspaces(
    run: RunContext,
    settings: Settings,
    clock: Clock,
    http_factory: HttpFactory,
    mine: list[Workspace],
    target: Target,
) -> RunSummary:
    """An on-demand `replay` (targets.py) in the worker, under the key's lease: each campaign
    named (or every campaign the workspace's plan knows), on the backfill share of the key's
    quota; a campaign that cannot be replayed now fails alone, with the reason."""
    summary = RunSummary(run_id=run.run_id)
    for workspace in mine:
        result = WorkspaceResult(name=workspace.name)
        summary.workspaces.append(result)
        guard = QuotaGuard(
            run.store.load_quota(workspace.key_fingerprint),
            clock,
            reserve_percent=settings.quota_reserve_percent,
            fresh_reserve_percent=settings.fresh_reserve_percent,
            history_share_percent=settings.history_share_percent,
            max_calls_per_minute=settings.max_calls_per_minute,
            interval_seconds=settings.run_interval_minutes * 60.0,
        )
        try:
            with http_factory(workspace.api_key) as http:
                client = LeadLexClient(
                    http, guard, run.deadline, minute_window=settings.rate_limit_wait_seconds
                )
                stopped = _replay_campaigns(run, client, workspace.name, target, result)
                summary.stopped_early = summary.stopped_early or stopped
        finally:
            result.api_calls = guard.calls
            result.quota_remaining = guard.state.remaining
            ttl = int((clock.now() + timedelta(days=3)).timestamp())
            try:
                run.store.save_quota(workspace.key_fingerprint, guard.state, ttl)
            except (ClientError, BotoCoreError):
                logger.warning("quota state not saved", workspace=workspace.name)
    return summary


def _replay_campaigns(
    run: RunContext,
    client: LeadLexClient,
    workspace: str,
    target: Target,
    result: WorkspaceResult,
) -> str | None:
    """Each campaign in turn, into `result`; why it stopped early, if it did."""
    assert target.start is not None  # noqa: S101 - parse() sets both for a replay
    assert target.end is not None  # noqa: S101
    campaigns = target.campaigns or tuple(run.store.load_plan(workspace).plan.campaigns)
    result.campaigns = len(campaigns)
    for campaign_id in campaigns:
        try:
            done = replay(run, client, workspace, campaign_id, target.start, target.end)
        except REPLAY_ERRORS as exc:
            message = str(exc) if isinstance(exc, ExporterError) else type(exc).__name__
            result.failed_campaigns[campaign_id] = message[:300]
            continue
        result.replays[campaign_id] = done.to_json()
        result.stats.exported += done.records_added
        if done.stopped_early:
            return done.stopped_early
    return None
