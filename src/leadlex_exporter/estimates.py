"""Dry runs: what a history load (`backfill`) or a `replay` would cost, in calls and days at the
key's quota, without changing anything."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx

from leadlex_exporter.checkpoints import CheckpointStore, campaign_pk
from leadlex_exporter.console import Output, Progress
from leadlex_exporter.deployment import Deployment, OperationError
from leadlex_exporter.leadlex import PER_PAGE, build_http_client
from leadlex_exporter.state import CampaignState
from leadlex_exporter.status import days_at, history_calls_per_day
from leadlex_exporter.targets import Target
from leadlex_exporter.timestamps import format_timestamp, parse_timestamp


def backfill(deployment: Deployment, target: Target, out: Output) -> int:
    """Calls a history load needs, by the API's count of the events in the part of the range
    each campaign never read (one call per campaign), and the days at the key's quota."""
    workspace = next((w for w in deployment.workspaces() if w.name == target.workspace), None)
    if workspace is None:
        raise OperationError(f"no workspace named {target.workspace!r} in the secret")
    store = deployment.store()
    plan = store.load_plan(target.workspace).plan
    ids = list(target.campaigns or plan.campaigns)
    if not ids:
        raise OperationError(
            f"workspace {target.workspace!r} knows no campaign yet: name one, or sync"
        )
    rows: list[list[Any]] = []
    progress = Progress(out, total=len(ids))
    with build_http_client(deployment.api_url, workspace.api_key, 20.0) as http:
        for n, campaign_id in enumerate(ids, 1):
            progress.update(n, campaign_id)
            rows.append(_history_row(http, store, target, campaign_id))
    calls, probes = sum(r[3] for r in rows), sum(1 for r in rows if r[1] != "-")
    progress.done()
    return _report(
        deployment,
        target,
        out,
        ["campaign", "range to read", "events", "calls", "note"],
        rows,
        {"calls_spent_estimating": probes},
        f"backfill needs {calls} call(s)",
        f"This estimate spent {probes} call(s) of the key's quota.",
    )


def _history_row(
    http: httpx.Client, store: CheckpointStore, target: Target, campaign_id: str
) -> list[Any]:
    """One campaign's row: the part of the range it never read, the API's count of its events
    (one call; none when nothing is left to read) and the calls to read them."""
    state = _state(store, target.workspace, campaign_id)
    if state.history_from == "":
        return [campaign_id, "-", 0, 0, "its history is complete"]
    start = parse_timestamp(state.history_from) if state.history_from else None
    if start is None and state.watermark is not None:
        return [campaign_id, "-", 0, 0, "history start unknown"]
    lo, hi = target.from_instant, target.to_instant
    if start is not None:
        hi = min(hi, start)
    if hi <= lo:
        return [campaign_id, "-", 0, 0, "already read"]
    total = _count(http, campaign_id, lo, hi)
    span = f"{format_timestamp(lo)} .. {format_timestamp(hi)}"
    return [campaign_id, span, total, max(1, -(-total // PER_PAGE)), ""]


def _count(http: httpx.Client, campaign_id: str, lo: datetime, hi: datetime) -> int:
    response = http.get(
        f"/v1/campaigns/{campaign_id}/events",
        params={
            "page": 1,
            "per_page": 1,
            "from_date": format_timestamp(lo),
            "to_date": format_timestamp(hi),
        },
    )
    if response.status_code != 200:
        raise OperationError(f"the API answered {response.status_code} for campaign {campaign_id}")
    total = (response.json().get("meta") or {}).get("total")
    if not isinstance(total, int):
        raise OperationError(f"the API gave no event count for campaign {campaign_id}")
    return total


def replay_cost(deployment: Deployment, target: Target, out: Output) -> int:
    """What a replay would rewrite and call, from S3 only (replay.py's dry run)."""
    from leadlex_exporter.clock import SystemClock
    from leadlex_exporter.errors import ReplayRefusedError
    from leadlex_exporter.replay import replay
    from leadlex_exporter.runtime import new_run

    assert target.start is not None  # noqa: S101 - parse() sets both for a replay
    assert target.end is not None  # noqa: S101
    clock = SystemClock()
    run = new_run(
        deployment.run_settings(), clock, clock.now() + timedelta(minutes=15), deployment.session
    )
    ids = list(target.campaigns or deployment.store().load_plan(target.workspace).plan.campaigns)
    if not ids:
        raise OperationError(
            f"workspace {target.workspace!r} knows no campaign yet: name one, or sync"
        )
    rows, calls, records = [], 0, 0
    progress = Progress(out, total=len(ids))
    for n, campaign_id in enumerate(ids, 1):
        progress.update(n, campaign_id)
        try:
            result = replay(
                run, None, target.workspace, campaign_id, target.start, target.end, dry_run=True
            )
        except ReplayRefusedError as exc:
            rows.append([campaign_id, "-", 0, 0, str(exc)])
            continue
        span = " .. ".join(result.replayed) if result.replayed else "-"
        estimated = result.api_calls_estimated or 0
        calls, records = calls + estimated, records + result.records_in_s3
        rows.append([campaign_id, span, result.records_in_s3, estimated, ""])
    progress.done()
    return _report(
        deployment,
        target,
        out,
        ["campaign", "dates (capped)", "records in S3", "calls", "note"],
        rows,
        {"records_in_s3": records},
        f"replay needs about {calls} call(s)",
        "No API call was made.",
    )


def _report(
    deployment: Deployment,
    target: Target,
    out: Output,
    header: list[str],
    rows: list[list[Any]],
    extra: dict[str, Any],
    headline: str,
    footnote: str,
) -> int:
    """An estimate's table (or JSON): per campaign, then the calls in all and the days they
    take at the key's quota (by its last known limit; none known before its first run)."""
    calls = sum(int(r[3]) for r in rows)
    quota = _quota_of(deployment, target.workspace)
    per_day = history_calls_per_day((quota or {}).get("limit"), deployment.settings)
    days = days_at(calls, per_day)
    names = ["campaign_id", "range", "count", "calls", "note"]
    data = {
        "workspace": target.workspace,
        "from": target.start.isoformat() if target.start else None,
        "to": target.end.isoformat() if target.end else None,
        "calls_needed": calls,
        "history_calls_per_day": per_day,
        "days": days,
        **extra,
        "campaigns": [dict(zip(names, r, strict=True)) for r in rows],
    }
    if out.json:
        out.emit(data)
        return 0
    out.table(header, rows)
    at = f": about {days} day(s) at {per_day} history calls a day" if days is not None else ""
    out.line(f"{headline}{at}. {footnote}")
    return 0


def _quota_of(deployment: Deployment, workspace: str) -> dict[str, Any] | None:
    run = deployment.controls().last_run(workspace)
    fingerprint = (run or {}).get("key_fingerprint")
    if not fingerprint:
        return None
    state = deployment.store().load_quota(fingerprint)
    return {"limit": state.limit, "remaining": state.remaining}


def _state(store: CheckpointStore, workspace: str, campaign_id: str) -> CampaignState:
    item = store.ddb.get_item(
        TableName=store.table, Key={"pk": {"S": campaign_pk(workspace, campaign_id)}}
    ).get("Item")
    return store.item_state(item) if item else CampaignState()
