"""The measurements as tables, the ratios to dlt, and which of the issue's targets hold."""

from __future__ import annotations

import math
import platform
import statistics
import subprocess
from pathlib import Path
from typing import Any, TypeGuard

from bench.coldstart import ColdStart
from bench.workloads import Workload

RSS_LIMIT_MB = 256
IMPORT_LIMIT_MS = 300
EVENTS_PER_OBJECT = 1_000  # "sized for Athena": at least ten API pages in each object
TOOLS = ("ours", "ours-s3", "dlt")


def progress_line(r: dict[str, Any]) -> str:
    if "seconds" not in r:
        return f"{r['workload']:>5} {r['tool']:<4} {r['status']}"
    return (
        f"{r['workload']:>5} {r['tool']:<4} {r['events']:>8,} events in {r['seconds']:7.1f}s, "
        f"{r['api_calls']['total']:,} API calls, peak RSS {r['peak_rss_mb']:.0f} MB"
    )


def machine(dlt_python: Path) -> dict[str, str]:
    def run(*command: str) -> str:
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)  # noqa: S603
        except (OSError, subprocess.SubprocessError):
            return "n/a"
        return done.stdout.strip()

    cpu = next(
        (line.split(":", 1)[1].strip() for line in _read("/proc/cpuinfo") if "model name" in line),
        platform.processor() or "n/a",
    )
    memory = run("free", "-h").splitlines()
    return {
        "nproc": run("nproc"),
        "cpu": cpu,
        "memory": memory[1].split()[1] if len(memory) > 1 else "n/a",
        "python": platform.python_version(),
        "moto": _version("moto"),
        "dlt": run(str(dlt_python), "-c", "import dlt; print(dlt.__version__)")
        if dlt_python.exists()
        else "not installed",
        "os": platform.platform(),
    }


def render(
    items: list[Workload],
    results: list[dict[str, Any]],
    cold: ColdStart | None,
    host: dict[str, str],
) -> str:
    by = {(r["workload"], r["tool"]): r for r in results if r.get("round", 1) == 1}
    repeats = [r for r in results if r.get("round", 1) > 1]
    lines = ["", "Machine: " + ", ".join(f"{k} {v}" for k, v in host.items()), ""]
    ours = next((r for r in results if "package" in r), None)
    if ours is not None:
        trimmed = "yes" if ours["botocore_data_trimmed"] else "NO (botocore's full data)"
        lines += [f"Exporter package: {ours['package']}; botocore data trimmed: {trimmed}", ""]
    lines += [
        "| workload | tool | events | seconds | events/s | API calls (lower bound) "
        "| S3 PUTs /1k ev | SQS requests /1k ev | DynamoDB writes /1k ev | peak RSS MB |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for w in items:
        for tool in TOOLS:
            r = by.get((w.name, tool))
            if r is not None:
                lines.append(_row(w, r))
    lines += ["", "Ours / dlt:", ""]
    lines += [
        "| workload | throughput ours/dlt | ours-s3/dlt | peak RSS ours/dlt "
        "| API calls ours vs dlt |",
        "|---|--:|--:|--:|--:|",
    ]
    for w in items:
        ours, peer = by.get((w.name, "ours")), by.get((w.name, "dlt"))
        if _done(ours) and _done(peer):
            lines.append(_ratio_row(w, ours, by.get((w.name, "ours-s3")), peer))
    lines += ["", *_details(items, by), "", *_pair_lines(by, repeats)]
    lines += ["", *_coldstart_lines(cold), "", "Targets:"]
    checks = targets(items, by, cold, repeats)
    lines += [f"- {'PASS' if ok else 'FAIL'}: {text}" for ok, text in checks]
    lines += ["", "Also measured (not the same work, so not a target):"]
    lines += [f"- {text}" for text in with_notifications(items, by)]
    return "\n".join(lines)


def with_notifications(
    items: list[Workload], by: dict[tuple[str, str], dict[str, Any]]
) -> list[str]:
    """The deployed configuration against dlt: it also sends every clicked and replied event
    to SQS, which dlt does not do at all."""
    lines = []
    for w in items:
        r, p = by.get((w.name, "ours")), by.get((w.name, "dlt"))
        if w.events and _done(r) and _done(p):
            lines.append(
                f"{w.name}: throughput {_speedup(r, p):.2f}x dlt's with {r['notified']:,} SQS "
                "messages sent as well"
            )
    return lines


def _row(w: Workload, r: dict[str, Any]) -> str:
    if not _done(r):
        return f"| {w.name} {w.title} | {r['tool']} | {r['status']} |||||||| "
    events, seconds = r["events"], r["seconds"]
    eps = f"{events / seconds:,.0f}" if events else "-"
    calls = f"{r['api_calls']['total']:,} ({w.lower_bound:,})"
    aws = r.get("aws")
    cells = ["-", "-", "-"]
    if aws:
        counts = (aws["s3_puts"], aws["sqs_requests"], aws["dynamodb_writes"])
        cells = [_per_thousand(n, events) for n in counts]
    elif "s3_objects" in r:
        cells[0] = _per_thousand(r["s3_objects"], events) + " (objects)"
    complete = "" if events == r["expected_events"] else f" (expected {r['expected_events']:,})"
    return (
        f"| {w.name} {w.title} | {r['tool']} | {events:,}{complete} | {seconds:.1f} | {eps} "
        f"| {calls} | {' | '.join(cells)} | {r['peak_rss_mb']:.0f} |"
    )


def _ratio_row(
    w: Workload, ours: dict[str, Any], s3_only: dict[str, Any] | None, peer: dict[str, Any]
) -> str:
    memory = ours["peak_rss_mb"] / peer["peak_rss_mb"]
    calls = f"{ours['api_calls']['total']:,} vs {peer['api_calls']['total']:,}"
    s3_speed = f"{_speedup(s3_only, peer):.2f}x" if _done(s3_only) else "-"
    return f"| {w.name} | {_speedup(ours, peer):.2f}x | {s3_speed} | {memory:.2f} | {calls} |"


def _speedup(ours: dict[str, Any] | None, peer: dict[str, Any]) -> float:
    """Events per second over dlt's; for an idle run (no events), dlt's time over ours."""
    assert ours is not None
    if ours["events"] and peer["events"]:
        return float((ours["events"] / ours["seconds"]) / (peer["events"] / peer["seconds"]))
    return float(peer["seconds"] / ours["seconds"])


def _details(items: list[Workload], by: dict[tuple[str, str], dict[str, Any]]) -> list[str]:
    lines = [
        "| workload | tool | S3 event objects | mean object KB | events/object "
        "| SQS requests (messages; ceil(n/10); batches under 10) "
        "| CPU s: client / sandbox / moto |",
        "|---|---|--:|--:|--:|--:|--:|",
    ]
    for w in items:
        for tool in TOOLS:
            r = by.get((w.name, tool))
            if not _done(r):
                continue
            aws, server = r.get("aws"), r["server_cpu_seconds"]
            cpu = f"{r['cpu_seconds']:.1f} / {server['sandbox']:.1f} / {server['moto']:.1f}"
            if aws:
                objects, size = aws["event_objects"], aws["event_object_bytes"]
                n = r["notified"]
                partial = aws.get("sqs_partial_batches", 0)
                sqs = f"{aws['sqs_requests']:,} ({n:,}; {math.ceil(n / 10):,}; {partial:,} partial)"
            else:
                objects, size, sqs = r["s3_objects"], r["s3_object_bytes"], "-"
            mean_kb = f"{size / objects / 1024:,.1f}" if objects else "-"
            per_object = f"{r['events'] / objects:,.0f}" if objects and r["events"] else "-"
            lines.append(
                f"| {w.name} | {tool} | {objects:,} | {mean_kb} | {per_object} | {sqs} | {cpu} |"
            )
    return lines


def _coldstart_lines(cold: ColdStart | None) -> list[str]:
    if cold is None:
        return ["Handler import: not measured (no sam build output)."]
    tops = ", ".join(f"{name} {ms:.0f}" for name, ms in cold.top_imports)
    return [
        f"Handler import (cold, median of {len(cold.samples['as_built'])}, from {cold.source}): "
        f"{cold.as_built_ms:.0f} ms as built ({cold.pyc_in_build} .pyc in the build); "
        f"{cold.with_bytecode_ms:.0f} ms with bytecode compiled into the build.",
        f"Largest imports as built (cumulative ms): {tops}.",
    ]


def same_work_pairs(
    name: str, by: dict[tuple[str, str], dict[str, Any]], repeats: list[dict[str, Any]]
) -> list[tuple[int, dict[str, Any], dict[str, Any]]]:
    """(round, ours-s3, dlt) of every round in which both ran the workload to its end."""
    rounds = {1: (by.get((name, "ours-s3")), by.get((name, "dlt")))}
    for r in repeats:
        if r["workload"] == name and r["tool"] in ("ours-s3", "dlt"):
            same, peer = rounds.get(r["round"], (None, None))
            rounds[r["round"]] = (r, peer) if r["tool"] == "ours-s3" else (same, r)
    return [
        (k, same, peer)
        for k, (same, peer) in sorted(rounds.items())
        if same is not None and peer is not None and _done(same) and _done(peer)
    ]


def _pair_lines(
    by: dict[tuple[str, str], dict[str, Any]], repeats: list[dict[str, Any]]
) -> list[str]:
    lines = [
        "Same work (S3 only) in alternating pairs; throughput is judged on the median pair:",
        "",
        "| workload | round | ours-s3 s | dlt s | ours-s3 / dlt | S3 records (distinct ids) |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for name in ("a", "b"):
        for k, same, peer in same_work_pairs(name, by, repeats):
            once = f"{same.get('s3_records', 0):,} ({same.get('s3_distinct_ids', 0):,})"
            lines.append(
                f"| {name} | {k} | {same['seconds']:.1f} | {peer['seconds']:.1f} "
                f"| {_speedup(same, peer):.2f}x | {once} |"
            )
    return lines


def targets(
    items: list[Workload],
    by: dict[tuple[str, str], dict[str, Any]],
    cold: ColdStart | None,
    repeats: list[dict[str, Any]] | None = None,
) -> list[tuple[bool, str]]:
    checks: list[tuple[bool, str]] = []
    ours = {w.name: by.get((w.name, "ours")) for w in items}
    peers = {w.name: by.get((w.name, "dlt")) for w in items}
    for w in items:
        r = ours[w.name]
        if not _done(r):
            checks.append((False, f"{w.name}: the exporter run did not finish"))
            continue
        calls = r["api_calls"]["total"]
        ok = calls <= w.lower_bound if w.idle else calls == w.lower_bound
        checks.append((ok, f"{w.name}: API calls {calls:,} vs lower bound {w.lower_bound:,}"))
        if r["events"] != r["expected_events"] or r["status"] != "ok":
            checks.append((False, f"{w.name}: exported {r['events']:,} of {w.events:,}"))
        if "s3_records" in r:
            records, distinct = r["s3_records"], r["s3_distinct_ids"]
            once = records == distinct == sum(w.campaigns.values())
            checks.append((once, f"{w.name}: {records:,} records in S3, {distinct:,} distinct ids"))
    for w in items:  # the same work again, without notifications: also complete, also once
        same = by.get((w.name, "ours-s3"))
        if _done(same) and same is not None and "s3_records" in same:
            records, distinct = same["s3_records"], same["s3_distinct_ids"]
            once = records == distinct == sum(w.campaigns.values()) and same["status"] == "ok"
            checks.append(
                (once, f"{w.name} (S3 only): {records:,} records in S3, {distinct:,} distinct ids")
            )
    big, small = ours.get("a"), ours.get("a/10")
    if _done(big) and _done(small):
        peak, base = big["peak_rss_mb"], small["peak_rss_mb"]
        checks.append((peak < RSS_LIMIT_MB, f"a: peak RSS {peak:.0f} MB < {RSS_LIMIT_MB} MB"))
        flat = peak - base <= max(16.0, 0.1 * base)
        checks.append((flat, f"peak RSS flat: {base:.0f} MB at a/10, {peak:.0f} MB at a"))
    for name in ("a", "b"):
        r, p = ours.get(name), peers.get(name)
        pairs = same_work_pairs(name, by, repeats or [])
        if _done(r) and _done(p) and pairs:
            speeds = [_speedup(same, peer) for _, same, peer in pairs]
            speed = statistics.median(speeds)
            each = ", ".join(f"{x:.2f}x" for x in speeds)
            checks.append(
                (
                    speed >= 3,
                    f"{name}: throughput {speed:.2f}x dlt's on the same work, S3 only "
                    f"(median of {len(speeds)} alternating pair{'s' * (len(speeds) > 1)}: "
                    f"{each}; target >= 3x)",
                )
            )
    for r in repeats or []:  # every repeated run is complete and exactly once too
        if r["tool"] == "ours-s3" and _done(r) and "s3_records" in r:
            w = next(w for w in items if w.name == r["workload"])
            records, distinct = r["s3_records"], r["s3_distinct_ids"]
            once = records == distinct == sum(w.campaigns.values()) and r["status"] == "ok"
            checks.append(
                (
                    once,
                    f"{w.name} (S3 only, round {r['round']}): {records:,} records in S3, "
                    f"{distinct:,} distinct ids",
                )
            )
    for w in items:  # every workload, the idle one and the small one too
        r, p = ours.get(w.name), peers.get(w.name)
        if _done(r) and _done(p):
            memory = r["peak_rss_mb"] / p["peak_rss_mb"]
            checks.append(
                (memory <= 0.5, f"{w.name}: memory {memory:.2f} of dlt's (target <= 0.5)")
            )
    for name in ("a", "b"):
        r = ours.get(name)
        if _done(r) and r and r["aws"]["event_objects"]:
            per = r["events"] / r["aws"]["event_objects"]
            checks.append(
                (per >= EVENTS_PER_OBJECT, f"{name}: {per:,.0f} events per S3 object (>= 1,000)")
            )
            n, requests = r["notified"], r["aws"]["sqs_requests"]
            partial, commits = r["aws"].get("sqs_partial_batches", 0), r.get("commits", 0)
            checks.append(
                (
                    requests <= math.ceil(n / 10),
                    f"{name}: {requests:,} SQS requests for {n:,} messages "
                    f"(ceil(n/10) = {math.ceil(n / 10):,}; {partial:,} batches under 10 entries "
                    f"in {commits:,} campaign commits)",
                )
            )
    if cold is not None:
        checks.append(
            (
                cold.as_built_ms < IMPORT_LIMIT_MS,
                f"handler import {cold.as_built_ms:.0f} ms as built "
                f"({cold.with_bytecode_ms:.0f} ms with bytecode) < {IMPORT_LIMIT_MS} ms",
            )
        )
    return checks


def _done(r: dict[str, Any] | None) -> TypeGuard[dict[str, Any]]:
    return r is not None and "seconds" in r


def _per_thousand(n: int, events: int) -> str:
    return f"{n * 1000 / events:.2f}" if events else f"{n:,} total"


def _read(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().splitlines()
    except OSError:
        return []


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "n/a"
