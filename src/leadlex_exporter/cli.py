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
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

import boto3

from leadlex_exporter import estimates
from leadlex_exporter.console import Output, Progress
from leadlex_exporter.deployment import Deployment, OperationError
from leadlex_exporter.errors import ConfigurationError
from leadlex_exporter.status import CampaignView, WorkspaceView, read_status
from leadlex_exporter.targets import Target, parse
from leadlex_exporter.timestamps import parse_timestamp

# a worker's timeout (15 min) and the ~9 minutes a request may wait for a key busy in a
# scheduled run (worker.KEY_WAIT_SECONDS, RETRY_SECONDS, three receives)
WAIT_SECONDS = 25 * 60


# -- the commands ---------------------------------------------------------------------------
def cmd_status(deployment: Deployment, args: argparse.Namespace, out: Output) -> int:
    now = datetime.now(UTC)
    views = read_status(deployment, args.workspace, now)
    if args.workspace and not views:
        raise OperationError(f"no workspace named {args.workspace!r} in the checkpoint table")
    if out.json:
        out.emit(
            {"at": now.isoformat(timespec="seconds"), "workspaces": [v.as_dict() for v in views]}
        )
        return 0
    if not views:
        out.line("No workspace has run yet.")
        return 0
    for ws in views:
        _print_workspace(ws, now, out)
    return 0


def _print_workspace(ws: WorkspaceView, now: datetime, out: Output) -> None:
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
        ["campaign", "paused", "last poll", "lag", "next due", "history", "commit", "error"], rows
    )


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
        return estimates.backfill(deployment, _check(payload), out)
    return _run_target(deployment, payload, args, out)


def cmd_replay(deployment: Deployment, args: argparse.Namespace, out: Output) -> int:
    payload = _range_payload("replay", args)
    if args.dry_run:
        return estimates.replay_cost(deployment, _check(payload), out)
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
        raise OperationError(str(exc)) from None


def _run_target(
    deployment: Deployment, payload: dict[str, Any], args: argparse.Namespace, out: Output
) -> int:
    _check(payload)  # the dispatcher checks it again; a typo fails here without a call
    started = datetime.now(UTC).replace(microsecond=0)
    dispatched = deployment.invoke(payload)
    progress = Progress(out)
    deployment.run_workers(progress)
    if deployment.dispatcher is not None and not args.no_wait:
        _wait_for_run(deployment, payload["workspace"], dispatched.get("target"), started, progress)
    progress.done()
    run = deployment.controls().last_run(payload["workspace"])
    fresh = _answers(run, dispatched.get("target"), started)
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


def _answers(run: dict[str, Any] | None, target: Any, started: datetime) -> bool:
    """`run` (a workspace's last run) is the one that served this request."""
    if run is None or run.get("target") != target:
        return False
    finished = parse_timestamp(run.get("finished_at"))
    return finished is not None and finished >= started


def _wait_for_run(
    deployment: Deployment, workspace: str, target: Any, started: datetime, progress: Progress
) -> None:
    controls = deployment.controls()
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if _answers(controls.last_run(workspace), target, started):
            return
        progress.update(None, "waiting for the worker")
        time.sleep(5)
    raise OperationError(
        f"the worker has not reported within {WAIT_SECONDS // 60} minutes; see `status` later"
    )


def cmd_rename(deployment: Deployment, args: argparse.Namespace, out: Output) -> int:
    from leadlex_exporter.rename import rename  # noqa: PLC0415 - only this command needs it

    moved = rename(deployment, args.workspace, args.to, Progress(out))
    out.result(
        f"workspace {args.workspace} is now {args.to}: {moved['campaigns']} checkpoint(s) "
        "moved, secret updated. Its S3 history keeps the old name (workspace="
        f"{args.workspace}); query both names to see all of it.",
        moved,
    )
    return 0


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
    except OperationError as exc:
        print(f"leadlex-exporter: {exc}", file=sys.stderr)
        return 2


# -- small helpers --------------------------------------------------------------------------
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
