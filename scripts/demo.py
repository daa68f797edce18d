"""`make demo`: the exporter end to end on the local stack, and what landed where.

Starts a moto server and the LeadLex sandbox (seeded, realistic data) and runs a schedule tick
the way Lambda does: the dispatcher's handler gets events/scheduled-tick.json and puts one work
item per API key on the work queue; a local event source mapping (scripts/event_source.py)
hands the items to the worker as SQS batch events, one key per invocation with 15 minutes each,
and deletes what the partial batch response does not name. A second tick shows the idle cost.
Then it prints S3 partitions, SQS messages, checkpoints and a DuckDB query over the exported
files, and stops everything it started.
"""

from __future__ import annotations

import gzip
import json
import os
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb
import httpx

from scripts.event_source import EventSource, LambdaContext, Recorder, tick_result
from scripts.local_stack import BUCKET, TABLE, LocalStack, local_stack

ROOT = Path(__file__).resolve().parent.parent
WORKSPACES = [
    {
        "name": "acme",
        "api_key": "wbk_demoAcme" + "0" * 40,
        "plan": "pro",
        "campaigns": 3,
        "events_per_campaign": 450,
    },
    {
        "name": "beta-co",
        "api_key": "wbk_demoBeta" + "1" * 40,
        "plan": "starter",
        "campaigns": 2,
        "events_per_campaign": 120,
    },
]


def invoke(stack: LocalStack) -> dict[str, Any]:
    """One tick: the dispatcher's Lambda handler, then the work queue into the worker."""
    os.environ.update(stack.env(POWERTOOLS_LOG_LEVEL="WARNING", POWERTOOLS_METRICS_DISABLED="true"))
    from leadlex_exporter.clock import SystemClock
    from leadlex_exporter.dispatcher import lambda_handler
    from leadlex_exporter.key_export import KeyExport
    from leadlex_exporter.runtime import new_session
    from leadlex_exporter.settings import Settings
    from leadlex_exporter.worker import process_batch

    event = json.loads((ROOT / "events" / "scheduled-tick.json").read_text())
    dispatched: dict[str, Any] = lambda_handler(event, LambdaContext(60, "leadlex-dispatcher"))
    print(f"\n-- dispatcher: {len(dispatched['work_items'])} work item(s) on the work queue:")
    for item in dispatched["work_items"]:
        print(f"   key {item['fingerprint']} -> workspaces {item['workspaces']}")
    session = new_session()
    recorder = Recorder(KeyExport(Settings.from_env(os.environ), SystemClock(), session))
    source = EventSource(stack.client("sqs"), stack.work_queue_url)
    source.drain(lambda e, c: process_batch(e, c, recorder), lambda: LambdaContext(900))
    print(
        f"-- worker: {len(source.responses)} invocation(s) from the work queue, batch"
        f" responses {source.responses}"
    )
    return tick_result(dispatched, recorder.summaries, recorder.skipped)


def api_calls(stack: LocalStack) -> int:
    stats = httpx.get(stack.admin_url + "/stats", timeout=10).json()
    return sum(1 for call in stats["calls"] if call.get("workspace"))


def show_run(title: str, result: dict[str, Any], calls: int) -> None:
    print(f"\n== {title}: status={result['status']}, API calls={calls}")
    for w in result["workspaces"]:
        print(
            f"   {w['workspace']:<8} campaigns={w['campaigns']} exported={w['events_exported']}"
            f" notified={w['events_notified']} quarantined={w['events_quarantined']}"
            f" api_calls={w['api_calls']} quota_remaining={w['quota_remaining']}"
        )


def show_s3(stack: LocalStack, target: Path) -> None:
    s3 = stack.client("s3")
    keys = [
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
        for o in page.get("Contents", [])
    ]
    per_partition = Counter(k.rsplit("/", 1)[0] for k in keys if k.startswith("events/"))
    print(f"\n== S3 s3://{BUCKET}/: {len(keys)} objects, {len(per_partition)} partitions (first 8)")
    for partition, count in sorted(per_partition.items())[:8]:
        print(f"   {partition}/  {count} object(s)")
    for key in keys:
        path = target / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    sample = next(k for k in keys if k.startswith("events/"))
    first = gzip.decompress((target / sample).read_bytes()).splitlines()[0]
    print(f"   one record of {sample}:\n   {first.decode()}")


def show_sqs(stack: LocalStack) -> None:
    sqs = stack.client("sqs")
    url = stack.queue_url
    depth = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    message = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=1, MessageAttributeNames=["All"]
    )["Messages"][0]
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    print(f"\n== SQS {url}: {depth['Attributes']['ApproximateNumberOfMessages']} messages")
    print(f"   attributes: {attributes}\n   body: {message['Body'][:300]}")


def show_checkpoints(stack: LocalStack) -> None:
    items = stack.client("dynamodb").scan(TableName=TABLE)["Items"]
    print(f"\n== DynamoDB {TABLE}: {len(items)} items")
    campaigns = [i for i in items if i["pk"]["S"].startswith("campaign#")]
    for item in sorted(campaigns, key=lambda i: i["pk"]["S"])[:6]:
        state = json.loads(item["state"]["S"]) if "state" in item else {}
        backfill = "running" if state.get("backfill") else "done"
        print(
            f"   {item['pk']['S']:<40} seq={item.get('seq', {}).get('N', '-')}"
            f" watermark={state.get('watermark')} backfill={backfill}"
        )
    others = sorted({i["pk"]["S"].split("#", 1)[0] for i in items} - {"campaign"})
    print(f"   and {len(items) - len(campaigns)} other items ({', '.join(others)})")
    show_freshness(items)


def show_freshness(items: list[dict[str, Any]]) -> None:
    """The poll planner's memory (plan#<workspace>): per campaign, its last poll, its lag and
    when it is next due."""
    import zlib
    from datetime import UTC, datetime

    def when(seconds: float | None) -> str:
        if seconds is None:
            return "-"
        return datetime.fromtimestamp(seconds, UTC).strftime("%H:%M:%S")

    now = datetime.now(UTC).timestamp()
    print("\n== Freshness (the poll planner's plan items)")
    for item in sorted(items, key=lambda i: i["pk"]["S"]):
        if not item["pk"]["S"].startswith("plan#") or "plan" not in item:
            continue
        plan = json.loads(zlib.decompress(item["plan"]["B"]))
        print(f"   {item['pk']['S']}: list refreshed {when(plan.get('listed_at'))} UTC")
        for campaign, entry in sorted(plan["campaigns"].items())[:4]:
            seen, polled, watermark, due = entry[0], entry[1], entry[2], entry[3]
            lag = f"{now - (watermark or seen):.0f} s"
            print(
                f"     {campaign:<16} last poll {when(polled)}  lag {lag:>7}  next due {when(due)}"
            )


def show_duckdb(target: Path) -> None:
    print("\n== DuckDB over the exported files (hive partitions, as Athena reads them)")
    rows = duckdb.sql(f"""
        select workspace, type, count(*) as events, count(distinct id) as ids,
               min(event_date) as first_day, max(event_date) as last_day
        from read_json('{target}/events/*/*/*.jsonl.gz', format='newline_delimited',
                       hive_partitioning=true, union_by_name=true)
        group by all order by workspace, events desc""").fetchall()
    print(f"   {'workspace':<9} {'type':<13} {'events':>6} {'ids':>6}  days")
    for workspace, kind, events, ids, first, last in rows:
        print(f"   {workspace:<9} {kind:<13} {events:>6} {ids:>6}  {first}..{last}")


def main() -> None:
    print("starting a moto server and the LeadLex sandbox on loopback ...")
    with local_stack(WORKSPACES, days=20) as stack, tempfile.TemporaryDirectory() as tmp:
        print(f"   moto: {stack.moto_url}   LeadLex sandbox: {stack.api_url}")
        first = invoke(stack)
        first_calls = api_calls(stack)
        show_run("first run (backfill)", first, first_calls)
        time.sleep(1.5)
        second = invoke(stack)
        show_run(
            "second run (idle: one call per campaign + campaign list)",
            second,
            api_calls(stack) - first_calls,
        )
        show_s3(stack, Path(tmp))
        show_sqs(stack)
        show_checkpoints(stack)
        show_duckdb(Path(tmp))
        show_status(stack)
    print("\nstopped the moto server and the sandbox.")


def show_status(stack: LocalStack) -> None:
    """What an operator sees: `leadlex-exporter status`, with this stack's environment."""
    from leadlex_exporter import cli

    os.environ.update(stack.env())
    print("\n-- leadlex-exporter status (the CLI; see README, Operating it):")
    cli.main(["status"])


if __name__ == "__main__":
    main()
