"""`leadlex-exporter`: operate a deployed stack (or the local one) like a managed connector.

    leadlex-exporter [--stack NAME] [--json] status [--workspace W]
    leadlex-exporter sync     --workspace W [--campaign C ...] [--no-wait]
    leadlex-exporter backfill --workspace W [--campaign C ...] --from D --to D [--dry-run]
    leadlex-exporter replay   --workspace W [--campaign C ...] --from D --to D [--dry-run]
    leadlex-exporter pause    --workspace W [--campaign C ...]
    leadlex-exporter resume   --workspace W [--campaign C ...]
    leadlex-exporter rename   --workspace OLD --to NEW

With `--stack`, the resources come from the CloudFormation stack's outputs, and `sync`,
`backfill` and `replay` invoke its dispatcher function, which checks the request and queues it
for the worker exactly as a schedule tick is queued. Without it, the resources come from the
environment the functions read (CHECKPOINT_TABLE, EXPORT_BUCKET, WORK_QUEUE_URL, ...; the local
stack of `make demo` prints them), and the dispatcher's and worker's handlers run in this process,
the worker fed from the work queue by the local event source mapping (local_runner.py).

Reading (`status`, dry runs) never calls the functions. A backfill's dry run asks the API for
one count per campaign (one call each, shown); a replay's dry run reads only S3. No command prints
an API key.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO
from urllib.parse import unquote

import boto3
import httpx

from leadlex_exporter.checkpoints import CheckpointStore, campaign_pk, plan_from_item
from leadlex_exporter.control import ControlStore
from leadlex_exporter.errors import ConfigurationError
from leadlex_exporter.leadlex import PER_PAGE, build_http_client
from leadlex_exporter.planner import WorkspacePlan
from leadlex_exporter.quota import QuotaState
from leadlex_exporter.settings import DEFAULT_API_URL, Settings
from leadlex_exporter.sink_s3 import S3Sink
from leadlex_exporter.state import CampaignState
from leadlex_exporter.targets import Target, parse
from leadlex_exporter.timestamps import format_timestamp, parse_timestamp
from leadlex_exporter.workspaces import parse_secret

WAIT_SECONDS = 16 * 60  # a worker's timeout (15 min) and a margin


class CliError(Exception):
    """A problem to show the user, in one line, with a non-zero exit."""


# -- where the stack is ---------------------------------------------------------------------
@dataclass
class Deployment:
    session: boto3.session.Session
    table: str
    bucket: str
    work_queue_url: str
    secret_id: str
    export_prefix: str = "events"
    api_url: str = DEFAULT_API_URL
    dispatcher: str | None = None  # the function's name; None: run the handlers in-process
    settings: Settings | None = None  # local: what the functions read

    @classmethod
    def from_stack(cls, session: boto3.session.Session, name: str) -> Deployment:
        stacks = session.client("cloudformation").describe_stacks(StackName=name)["Stacks"]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
        wanted = (
            "CheckpointTableName",
            "ExportBucketName",
            "WorkQueueUrl",
            "ApiKeysSecretArn",
            "DispatcherFunctionName",
        )
        missing = [k for k in wanted if k not in outputs]
        if missing:
            raise CliError(f"stack {name!r} has no output(s) {', '.join(missing)}")
        location = outputs.get("ExportLocation", "")
        prefix = location.split("/", 3)[3].strip("/") if location.count("/") >= 3 else "events"
        return cls(
            session=session,
            table=outputs["CheckpointTableName"],
            bucket=outputs["ExportBucketName"],
            work_queue_url=outputs["WorkQueueUrl"],
            secret_id=outputs["ApiKeysSecretArn"],
            export_prefix=prefix or "events",
            dispatcher=outputs["DispatcherFunctionName"],
        )

    @classmethod
    def from_env(cls, session: boto3.session.Session) -> Deployment:
        try:
            settings = Settings.from_env(os.environ)
        except ConfigurationError as exc:
            raise CliError(f"{exc} (pass --stack NAME for a deployed stack)") from None
        return cls(
            session=session,
            table=settings.checkpoint_table,
            bucket=settings.export_bucket,
            work_queue_url=settings.work_queue_url,
            secret_id=settings.secret_id,
            export_prefix=settings.export_prefix,
            api_url=settings.api_url,
            settings=settings,
        )

    def client(self, service: str) -> Any:
        return self.session.client(service)  # type: ignore[call-overload]

    def run_settings(self) -> Settings:
        """The functions' settings: the environment's (local), or the stack's resources with
        the defaults for the rest (deployed: its parameters are not read)."""
        if self.settings is not None:
            return self.settings
        return Settings(
            export_bucket=self.bucket,
            notify_queue_url="",
            checkpoint_table=self.table,
            secret_id=self.secret_id,
            export_prefix=self.export_prefix,
        )

    def store(self) -> CheckpointStore:
        return CheckpointStore(
            self.client("dynamodb"), self.table, S3Sink(self.client("s3"), self.bucket)
        )

    def controls(self) -> ControlStore:
        return ControlStore(self.client("dynamodb"), self.table)

    def invoke(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The dispatcher with this payload, as Lambda would run it; its result."""
        if self.dispatcher is not None:
            response = self.client("lambda").invoke(
                FunctionName=self.dispatcher, Payload=json.dumps(payload).encode()
            )
            body = json.loads(response["Payload"].read() or b"null")
            if response.get("FunctionError"):
                message = body.get("errorMessage") if isinstance(body, dict) else body
                raise CliError(f"the dispatcher refused the request: {message}")
            return dict(body)
        from leadlex_exporter.dispatcher import lambda_handler
        from leadlex_exporter.local_runner import LambdaContext

        try:
            context: Any = LambdaContext(60, "leadlex-dispatcher")
            return dict(lambda_handler(payload, context))
        except ConfigurationError as exc:
            raise CliError(f"the dispatcher refused the request: {exc}") from None

    def run_workers(self, progress: Progress) -> int:
        """Local stack: the work queue into the worker's handler until it is empty. Deployed:
        nothing to do (the queue's event source mapping runs the worker)."""
        if self.dispatcher is not None:
            return 0
        from leadlex_exporter.local_runner import EventSource, LambdaContext
        from leadlex_exporter.worker import lambda_handler

        source = EventSource(self.client("sqs"), self.work_queue_url)
        handed = 0
        progress.update(0, "worker running")
        while polled := source.poll(lambda_handler, LambdaContext(900)):
            handed += polled
            progress.update(handed, "worker running")
        return handed

    def workspaces(self) -> list[Any]:
        """The secret's workspaces (the CLI needs them for a dry run and `rename` only)."""
        document = self.client("secretsmanager").get_secret_value(SecretId=self.secret_id)
        workspaces, _ = parse_secret(document["SecretString"])
        return workspaces


# -- what is stored -----------------------------------------------------------------------
@dataclass
class CampaignView:
    campaign_id: str
    paused: bool = False
    last_poll: float | None = None
    lag_seconds: float | None = None
    next_due: float | None = None
    watermark: str | None = None
    history_from: str | None = None
    backfill: dict[str, Any] | None = None  # {from, to, events_left, calls_left}
    history_request: str | None = None
    pending: bool = False
    leased_until: float | None = None
    last_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "campaign_id": self.campaign_id,
            "paused": self.paused,
            "last_poll": _iso(self.last_poll),
            "lag_seconds": None if self.lag_seconds is None else round(self.lag_seconds),
            "next_due": _iso(self.next_due),
            "watermark": self.watermark,
            "history_from": self.history_from,
            "backfill": self.backfill,
            "history_request": self.history_request,
            "pending": self.pending,
            "leased_until": _iso(self.leased_until),
            "last_error": self.last_error,
        }


@dataclass
class WorkspaceView:
    name: str
    paused: bool = False
    last_run: dict[str, Any] | None = None
    quota: dict[str, Any] | None = None
    campaigns: list[CampaignView] = field(default_factory=list)

    def backfill_calls_left(self) -> int:
        return sum((c.backfill or {}).get("calls_left") or 0 for c in self.campaigns)

    def as_dict(self) -> dict[str, Any]:
        calls = self.backfill_calls_left()
        per_day = history_calls_per_day((self.quota or {}).get("limit"))
        return {
            "workspace": self.name,
            "paused": self.paused,
            "last_run": self.last_run,
            "quota": self.quota,
            "backfill_calls_left": calls,
            "backfill_days_left": _days(calls, per_day),
            "campaigns": [c.as_dict() for c in self.campaigns],
        }


def history_calls_per_day(limit: int | None, settings: Settings | None = None) -> int | None:
    """Calls a day a key's history loads can count on: the limit less the reserve and the fresh
    share the backfill always leaves (QuotaGuard.floor; more when the fresh polls need it)."""
    if not limit:
        return None
    reserve = settings.quota_reserve_percent if settings else 10
    fresh = settings.fresh_reserve_percent if settings else 20
    return max(1, limit - math.ceil(limit * reserve / 100) - math.ceil(limit * fresh / 100))


def _days(calls: int, per_day: int | None) -> float | None:
    if per_day is None:
        return None
    return round(calls / per_day, 1)


def scan(deployment: Deployment) -> Iterator[dict[str, Any]]:
    ddb = deployment.client("dynamodb")
    for page in ddb.get_paginator("scan").paginate(TableName=deployment.table, ConsistentRead=True):
        yield from page.get("Items", [])


def read_status(deployment: Deployment, only: str | None, now: datetime) -> list[WorkspaceView]:
    """Every workspace the table knows (plans, checkpoints, controls, last runs)."""
    store = deployment.store()
    views: dict[str, WorkspaceView] = {}
    plans: dict[str, WorkspacePlan] = {}
    quotas: dict[str, QuotaState] = {}
    campaigns: dict[tuple[str, str], dict[str, Any]] = {}
    controls: dict[str, dict[str, Any]] = {}

    def view(name: str) -> WorkspaceView:
        return views.setdefault(name, WorkspaceView(name))

    for item in scan(deployment):
        kind, _, rest = item["pk"]["S"].partition("#")
        if kind == "quota":
            quotas[rest] = QuotaState(**json.loads(item["quota"]["S"]))
            continue
        if kind not in ("campaign", "plan", "control", "status"):
            continue
        encoded, _, campaign = rest.partition("#")
        name = unquote(encoded)
        if only is not None and name != only:
            continue
        if kind == "campaign":
            campaigns[(name, unquote(campaign))] = item
        elif kind == "plan":
            plans[name] = plan_from_item(item).plan
        elif kind == "control":
            controls[name] = item
        view(name)
    for name in views:
        controls_of = ControlStore(deployment.client("dynamodb"), deployment.table)
        control = controls_of.load(name) if name in controls else None
        run = controls_of.last_run(name)
        ws = views[name]
        ws.paused = bool(control and control.workspace_paused)
        ws.last_run = run
        fingerprint = (run or {}).get("key_fingerprint")
        if fingerprint and fingerprint in quotas:
            q = quotas[fingerprint]
            ws.quota = {
                "limit": q.limit,
                "remaining": q.remaining,
                "reset_at": _iso(q.reset_at),
                "exhausted": q.exhausted,
            }
        plan = plans.get(name, WorkspacePlan())
        ids = list(dict.fromkeys([*plan.campaigns, *(c for (w, c) in campaigns if w == name)]))
        for campaign_id in sorted(ids):
            entry = plan.campaigns.get(campaign_id)
            cv = CampaignView(campaign_id)
            cv.paused = bool(control and control.paused(campaign_id))
            if entry is not None:
                cv.last_poll, cv.next_due = entry.polled_at, entry.due_at
                since = entry.watermark if entry.watermark is not None else entry.seen_at
                cv.lag_seconds = now.timestamp() - since
            if control and campaign_id in control.history_requests:
                cv.history_request = "{} to {}".format(*control.history_requests[campaign_id])
            cv.last_error = ((run or {}).get("failed_campaigns") or {}).get(campaign_id)
            checkpoint = campaigns.get((name, campaign_id))
            if checkpoint is not None:
                _checkpoint_view(cv, checkpoint, store, now)
            ws.campaigns.append(cv)
    return [views[n] for n in sorted(views)]


def _checkpoint_view(
    cv: CampaignView, item: dict[str, Any], store: CheckpointStore, now: datetime
) -> None:
    cv.pending = "pending" in item
    until = item.get("lease_until", {}).get("N")
    if until is not None and int(until) / 1000 > now.timestamp():
        cv.leased_until = int(until) / 1000
    try:
        state = store.item_state(item)
    except Exception as exc:  # noqa: BLE001 - one unreadable checkpoint is shown, not fatal
        cv.last_error = cv.last_error or f"checkpoint not readable ({type(exc).__name__})"
        return
    cv.watermark, cv.history_from = state.watermark, state.history_from
    walk = state.backfill
    if walk is not None:
        progress = walk.progress()
        cv.backfill = {
            "from": walk.lo,
            "to": walk.hi,
            "events_left": progress[0] if progress else None,
            "calls_left": progress[1] if progress else None,
        }


# -- the commands ---------------------------------------------------------------------------
def cmd_status(deployment: Deployment, args: argparse.Namespace, out: Output) -> int:
    now = datetime.now(UTC)
    views = read_status(deployment, args.workspace, now)
    if args.workspace and not views:
        raise CliError(f"no workspace named {args.workspace!r} in the checkpoint table")
    if out.json:
        out.emit(
            {"at": now.isoformat(timespec="seconds"), "workspaces": [v.as_dict() for v in views]}
        )
        return 0
    if not views:
        out.line("No workspace has run yet.")
        return 0
    for ws in views:
        data = ws.as_dict()
        run = ws.last_run or {}
        quota = ws.quota or {}
        out.line(
            f"workspace {ws.name}{'  (PAUSED)' if ws.paused else ''}: "
            f"last run {run.get('finished_at') or '-'} {run.get('status') or ''}"
            f"{'  error: ' + run['error'] if run.get('error') else ''}"
        )
        if quota:
            out.line(
                f"  quota: {quota.get('remaining')} of {quota.get('limit')} calls left, "
                f"reset {quota.get('reset_at')}" + ("  (spent)" if quota.get("exhausted") else "")
            )
        if data["backfill_calls_left"]:
            days = data["backfill_days_left"]
            out.line(
                f"  history to load: {data['backfill_calls_left']} calls"
                + (f", about {days} day(s) at the key's quota" if days is not None else "")
            )
        rows = [
            [
                c.campaign_id,
                "paused" if c.paused else "",
                _short(c.last_poll, now),
                _duration(c.lag_seconds),
                _short(c.next_due, now),
                _backfill_text(c),
                "pending" if c.pending else ("leased" if c.leased_until else ""),
                c.last_error or "",
            ]
            for c in ws.campaigns
        ]
        out.table(
            ["campaign", "paused", "last poll", "lag", "next due", "history", "commit", "error"],
            rows,
        )
    return 0


def cmd_pause(deployment: Deployment, args: argparse.Namespace, out: Output) -> int:
    return _pause(deployment, args, out, pause=True)


def cmd_resume(deployment: Deployment, args: argparse.Namespace, out: Output) -> int:
    return _pause(deployment, args, out, pause=False)


def _pause(deployment: Deployment, args: argparse.Namespace, out: Output, pause: bool) -> int:
    controls = deployment.controls()
    campaigns = args.campaign or []
    (controls.pause if pause else controls.resume)(args.workspace, campaigns)
    control = controls.load(args.workspace)
    what = f"campaign(s) {', '.join(campaigns)} of " if campaigns else ""
    verb = "paused" if pause else "resumed"
    out.result(
        f"{what}workspace {args.workspace} {verb}; paused now: "
        + ("the whole workspace" if control.workspace_paused else "")
        + (
            ", ".join(sorted(control.paused_campaigns))
            or ("" if control.workspace_paused else "none")
        ),
        {
            "workspace": args.workspace,
            "workspace_paused": control.workspace_paused,
            "paused_campaigns": sorted(control.paused_campaigns),
        },
    )
    return 0


def cmd_sync(deployment: Deployment, args: argparse.Namespace, out: Output) -> int:
    payload = {"action": "sync", "workspace": args.workspace, "campaigns": args.campaign or []}
    return _run_target(deployment, payload, args, out)


def cmd_backfill(deployment: Deployment, args: argparse.Namespace, out: Output) -> int:
    payload = _range_payload("backfill", args)
    if args.dry_run:
        return _backfill_estimate(deployment, _check(payload), out)
    return _run_target(deployment, payload, args, out)


def cmd_replay(deployment: Deployment, args: argparse.Namespace, out: Output) -> int:
    payload = _range_payload("replay", args)
    if args.dry_run:
        return _replay_estimate(deployment, _check(payload), out)
    return _run_target(deployment, payload, args, out)


def _range_payload(action: str, args: argparse.Namespace) -> dict[str, Any]:
    return {
        "action": action,
        "workspace": args.workspace,
        "campaigns": args.campaign or [],
        "from": args.from_,
        "to": args.to,
    }


def _check(payload: dict[str, Any]) -> Target:
    try:
        return parse(payload, datetime.now(UTC).date())
    except ConfigurationError as exc:
        raise CliError(str(exc)) from None


def _run_target(
    deployment: Deployment, payload: dict[str, Any], args: argparse.Namespace, out: Output
) -> int:
    _check(payload)  # the dispatcher checks it again; a typo fails here without a call
    started = datetime.now(UTC).replace(microsecond=0)
    dispatched = deployment.invoke(payload)
    progress = Progress(out)
    deployment.run_workers(progress)
    if deployment.dispatcher is not None and not args.no_wait:
        _wait_for_run(deployment, payload["workspace"], started, progress)
    progress.done()
    run = deployment.controls().last_run(payload["workspace"])
    fresh = run is not None and (parse_timestamp(run.get("finished_at")) or started) >= started
    data = {"request": dispatched.get("target", payload), "last_run": run if fresh else None}
    if fresh and run is not None:
        text = f"{payload['action']} of {payload['workspace']}: run {run['run_id']} {run['status']}"
        if run.get("error"):
            text += f", error: {run['error']}"
        for campaign_id, error in (run.get("failed_campaigns") or {}).items():
            text += f"\n  {campaign_id} failed: {error}"
        for campaign_id, outcome in (run.get("history_requests") or {}).items():
            text += f"\n  {campaign_id}: {outcome}"
        for campaign_id, done in (run.get("replays") or {}).items():
            text += (
                f"\n  {campaign_id}: replayed {' .. '.join(done.get('replayed') or ['nothing'])}"
                f", {done.get('records_rewritten')} record(s) rewritten in"
                f" {done.get('objects_rewritten')} object(s), {done.get('records_added')} added"
                f", {done.get('api_calls')} call(s)"
            )
            if done.get("stopped_early"):
                text += (
                    f"; stopped ({done['stopped_early']}), run it again for"
                    f" {' .. '.join(done.get('remaining') or [])}"
                )
    else:
        text = f"{payload['action']} of {payload['workspace']} queued for the worker"
    out.result(text, data)
    if not fresh or run is None:
        return 0
    return 0 if run["status"] in ("ok", "paused") and not run.get("failed_campaigns") else 1


def _wait_for_run(
    deployment: Deployment, workspace: str, started: datetime, progress: Progress
) -> None:
    controls = deployment.controls()
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        run = controls.last_run(workspace)
        finished = parse_timestamp((run or {}).get("finished_at"))
        if finished is not None and finished >= started:
            return
        progress.update(None, "waiting for the worker")
        time.sleep(5)
    raise CliError("the worker has not reported within 16 minutes; see `status` later")


def _backfill_estimate(deployment: Deployment, target: Target, out: Output) -> int:
    """Calls a history load needs, by the API's count of the events in the part of the range
    each campaign never read (one call per campaign), and the days at the key's quota."""
    workspace = next((w for w in deployment.workspaces() if w.name == target.workspace), None)
    if workspace is None:
        raise CliError(f"no workspace named {target.workspace!r} in the secret")
    store = deployment.store()
    plan = store.load_plan(target.workspace).plan
    ids = list(target.campaigns or plan.campaigns)
    if not ids:
        raise CliError(f"workspace {target.workspace!r} knows no campaign yet: name one, or sync")
    quota = _quota_of(deployment, target.workspace)
    rows, calls, probes = [], 0, 0
    progress = Progress(out, total=len(ids))
    with build_http_client(deployment.api_url, workspace.api_key, 20.0) as http:
        for n, campaign_id in enumerate(ids, 1):
            progress.update(n, campaign_id)
            state = _state(store, target.workspace, campaign_id)
            lo, hi = target.from_instant, target.to_instant
            start = parse_timestamp(state.history_from) if state.history_from else None
            if state.history_from == "":
                rows.append([campaign_id, "-", 0, 0, "its history is complete"])
                continue
            if start is not None:
                hi = min(hi, start)
            if start is None and state.watermark is not None:
                rows.append([campaign_id, "-", 0, 0, "history start unknown"])
                continue
            if hi <= lo:
                rows.append([campaign_id, "-", 0, 0, "already read"])
                continue
            total = _count(http, campaign_id, lo, hi)
            probes += 1
            need = max(1, -(-total // PER_PAGE))
            calls += need
            rows.append(
                [campaign_id, f"{format_timestamp(lo)} .. {format_timestamp(hi)}", total, need, ""]
            )
    progress.done()
    per_day = history_calls_per_day((quota or {}).get("limit"), deployment.settings)
    days = _days(calls, per_day)
    data = {
        "workspace": target.workspace,
        "from": target.start.isoformat() if target.start else None,
        "to": target.end.isoformat() if target.end else None,
        "calls_needed": calls,
        "calls_spent_estimating": probes,
        "history_calls_per_day": per_day,
        "days": days,
        "campaigns": [
            {"campaign_id": r[0], "range": r[1], "events": r[2], "calls": r[3], "note": r[4]}
            for r in rows
        ],
    }
    if out.json:
        out.emit(data)
        return 0
    out.table(["campaign", "range to read", "events", "calls", "note"], rows)
    out.line(
        f"backfill needs {calls} call(s)"
        + (f": about {days} day(s) at {per_day} history calls a day" if days is not None else "")
        + f". This estimate spent {probes} call(s) of the key's quota."
    )
    return 0


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
        raise CliError(f"the API answered {response.status_code} for campaign {campaign_id}")
    total = (response.json().get("meta") or {}).get("total")
    if not isinstance(total, int):
        raise CliError(f"the API gave no event count for campaign {campaign_id}")
    return total


def _replay_estimate(deployment: Deployment, target: Target, out: Output) -> int:
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
        raise CliError(f"workspace {target.workspace!r} knows no campaign yet: name one, or sync")
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
    quota = _quota_of(deployment, target.workspace)
    per_day = history_calls_per_day((quota or {}).get("limit"), deployment.settings)
    days = _days(calls, per_day)
    data = {
        "workspace": target.workspace,
        "from": target.start.isoformat(),
        "to": target.end.isoformat(),
        "records_in_s3": records,
        "calls_needed": calls,
        "history_calls_per_day": per_day,
        "days": days,
        "campaigns": [
            {"campaign_id": r[0], "dates": r[1], "records": r[2], "calls": r[3], "note": r[4]}
            for r in rows
        ],
    }
    if out.json:
        out.emit(data)
        return 0
    out.table(["campaign", "dates (capped)", "records in S3", "calls", "note"], rows)
    out.line(
        f"replay needs about {calls} call(s)"
        + (f": about {days} day(s) at {per_day} history calls a day" if days is not None else "")
        + ". No API call was made."
    )
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


def cmd_rename(deployment: Deployment, args: argparse.Namespace, out: Output) -> int:
    from leadlex_exporter.rename import rename

    moved = rename(deployment, args.workspace, args.to, Progress(out))
    out.result(
        f"workspace {args.workspace} is now {args.to}: {moved['campaigns']} checkpoint(s) "
        "moved, secret updated. Its S3 history keeps the old name (workspace="
        f"{args.workspace}); query both names to see all of it.",
        moved,
    )
    return 0


# -- output ---------------------------------------------------------------------------------
class Output:
    def __init__(self, json_mode: bool, stream: TextIO | None = None):
        self.json = json_mode
        self.stream = stream or sys.stdout

    def line(self, text: str) -> None:
        print(text, file=self.stream)

    def emit(self, data: Any) -> None:
        print(json.dumps(data, indent=2, sort_keys=True, default=str), file=self.stream)

    def result(self, text: str, data: dict[str, Any]) -> None:
        if self.json:
            self.emit(data)
        else:
            self.line(text)

    def table(self, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
        cells = [[str(c) for c in header], *[[str(c) for c in row] for row in rows]]
        widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
        for n, row in enumerate(cells):
            self.line(
                "  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
            )
            if n == 0:
                self.line("  " + "  ".join("-" * w for w in widths))


class Progress:
    """A progress bar on stderr, when it is a terminal (never in --json output)."""

    def __init__(self, out: Output, total: int | None = None, stream: TextIO | None = None):
        self.total = total
        self.stream = stream or sys.stderr
        self.enabled = not out.json and self.stream.isatty()
        self.started = time.monotonic()
        self.drawn = False

    def update(self, done: int | None, label: str) -> None:
        if not self.enabled:
            return
        elapsed = int(time.monotonic() - self.started)
        if self.total and done is not None:
            filled = int(30 * done / self.total)
            bar = f"[{'#' * filled}{'.' * (30 - filled)}] {done}/{self.total}"
        else:
            spin = "|/-\\"[elapsed % 4]
            bar = f"[{spin}] {elapsed}s" + (f", {done} item(s)" if done else "")
        self.stream.write(f"\r{bar} {label[:40]:<40}")
        self.stream.flush()
        self.drawn = True

    def done(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()


# -- entry point ----------------------------------------------------------------------------
COMMANDS: dict[str, Callable[[Deployment, argparse.Namespace, Output], int]] = {
    "status": cmd_status,
    "sync": cmd_sync,
    "backfill": cmd_backfill,
    "replay": cmd_replay,
    "pause": cmd_pause,
    "resume": cmd_resume,
    "rename": cmd_rename,
}


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="leadlex-exporter",
        description="Operate the LeadLex event exporter: status, on-demand runs, pauses.",
    )
    top.add_argument("--stack", help="the CloudFormation stack (else: the local stack's env)")
    top.add_argument("--region", help="AWS region of the stack (else: your AWS config)")
    top.add_argument("--json", action="store_true", help="JSON output, for scripts")
    commands = top.add_subparsers(dest="command", required=True)

    status = commands.add_parser("status", help="per workspace and campaign: lag, quota, ...")
    status.add_argument("--workspace")
    for name, text in (
        ("sync", "poll now, through the dispatcher and the worker"),
        ("backfill", "load history the campaigns never read, for a date range"),
        ("replay", "re-export a date range in place, without duplicates"),
        ("pause", "stop polling a workspace or campaigns"),
        ("resume", "poll them again"),
    ):
        command = commands.add_parser(name, help=text)
        command.add_argument("--workspace", required=True)
        command.add_argument("--campaign", action="append", help="repeat for several")
        if name in ("backfill", "replay"):
            command.add_argument("--from", dest="from_", required=True, help="YYYY-MM-DD (UTC)")
            command.add_argument("--to", required=True, help="YYYY-MM-DD (UTC), inclusive")
            command.add_argument("--dry-run", action="store_true", help="estimate; change nothing")
        if name in ("sync", "backfill", "replay"):
            command.add_argument(
                "--no-wait", action="store_true", help="return once queued (deployed stacks)"
            )
    rename = commands.add_parser("rename", help="rename a workspace, keeping its checkpoints")
    rename.add_argument("--workspace", required=True, help="the current name")
    rename.add_argument("--to", required=True, help="the new name")
    return top


def main(argv: Sequence[str] | None = None, stream: TextIO | None = None) -> int:
    args = parser().parse_args(argv)
    out = Output(args.json, stream)
    try:
        session = (
            boto3.session.Session(region_name=args.region)
            if args.region
            else boto3.session.Session()
        )
        deployment = (
            Deployment.from_stack(session, args.stack)
            if args.stack
            else Deployment.from_env(session)
        )
        return COMMANDS[args.command](deployment, args, out)
    except CliError as exc:
        print(f"leadlex-exporter: {exc}", file=sys.stderr)
        return 2


# -- small helpers --------------------------------------------------------------------------
def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


def _short(seconds: float | None, now: datetime) -> str:
    if seconds is None:
        return "-"
    delta = seconds - now.timestamp()
    return ("in " if delta > 0 else "") + _duration(abs(delta)) + ("" if delta > 0 else " ago")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86_400:.1f}d"


def _backfill_text(cv: CampaignView) -> str:
    if cv.backfill:
        left = cv.backfill.get("calls_left")
        return (
            f"loading: {cv.backfill['events_left']} events, {left} calls left"
            if left is not None
            else "loading: starting"
        )
    if cv.history_request:
        return f"asked: {cv.history_request}"
    if cv.history_from == "":
        return "complete"
    return f"from {cv.history_from[:10]}" if cv.history_from else "-"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
