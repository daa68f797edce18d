"""`python -m bench`: every workload through the exporter, then through dlt, on one local stack.

Environment: BENCH_SCALE (1.0; 0.1 for a quick run), BENCH_TIME_LIMIT (seconds for the whole
run, 1500), BENCH_DLT_PYTHON (.venv-bench/bin/python; dlt is skipped when it is missing),
BENCH_BUILD_DIR (the `sam build` output of the exporter, else .aws-sam/build/WorkerFunction),
BENCH_RUNTIME_DIR (boto3 standing in for the Lambda runtime's, .venv-bench/lambda-runtime),
BENCH_JSON (write every measurement there too), BENCH_AWS_LATENCY_MS (see bench.moto_server),
BENCH_ONLY (a subset of the steps, e.g. `a:ours-s3,b:dlt`; for profiling with BENCH_PROFILE),
BENCH_PAIRS (3: how many times the same work runs, alternating, for the throughput verdict).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import coldstart, report
from bench.stack import DLT_BUCKET, BenchStack, bench_stack
from bench.workloads import Workload, sandbox_spec, workloads

ROOT = Path(__file__).resolve().parent.parent
# The exporter first, then dlt; each idle run right after its own tool's run of b.
# "ours-s3" is the exporter with notifications off (S3 and checkpoints only, as dlt does),
# under its own workspace name, so its checkpoints start empty.
ORDER = [("a/10", "ours"), ("a/10", "dlt"), ("a", "ours"), ("a", "ours-s3"), ("a", "dlt"),
         ("b", "ours"), ("c", "ours"), ("b", "ours-s3"), ("b", "dlt"), ("c", "dlt")]  # fmt: skip
SAME_WORK = [("a", "ours-s3"), ("a", "dlt"), ("b", "ours-s3"), ("b", "dlt")]
# MALLOC_ARENA_MAX as template.yaml sets it for the function (tests/template checks it there).
EXPORTER_ENV = {
    "MAX_CALLS_PER_MINUTE": "100000",
    "STOP_MARGIN_SECONDS": "5",
    "MALLOC_ARENA_MAX": "2",
}


def main() -> int:
    # SIGTERM unwinds like Ctrl-C, so the `with` blocks stop moto, the sandbox and any run.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    scale = float(os.environ.get("BENCH_SCALE", "1"))
    ends_at = time.monotonic() + float(os.environ.get("BENCH_TIME_LIMIT", "1500"))
    dlt_python = Path(os.environ.get("BENCH_DLT_PYTHON", ROOT / ".venv-bench/bin/python"))
    items = {w.name: w for w in workloads(scale)}
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="leadlex-bench-") as tmp:
        workdir = Path(tmp)
        started = time.monotonic()
        with bench_stack(sandbox_spec(list(items.values())), workdir) as stack:
            print(f"stack up in {time.monotonic() - started:.1f}s; scale {scale}", flush=True)
            only = {s.strip() for s in os.environ.get("BENCH_ONLY", "").split(",") if s.strip()}
            for name, tool in ORDER:
                if only and f"{name}:{tool}" not in only:
                    continue
                if tool == "dlt" and not dlt_python.exists():
                    results.append({"workload": name, "tool": tool, "status": "skipped"})
                    continue
                result = run_step(stack, items[name], tool, workdir, dlt_python, ends_at)
                results.append(result)
                print(report.progress_line(result), flush=True)
            # The same work again, in alternating pairs: on shared cores one pair can be off by
            # a quarter either way, so throughput is judged on the median pair.
            for round_ in range(2, int(os.environ.get("BENCH_PAIRS", "3")) + 1):
                for name, tool in SAME_WORK:
                    if (only and f"{name}:{tool}" not in only) or (
                        tool == "dlt" and not dlt_python.exists()
                    ):
                        continue
                    result = run_step(
                        stack, items[name], tool, workdir, dlt_python, ends_at, round_
                    )
                    results.append({**result, "round": round_})
                    print(f"round {round_}: " + report.progress_line(result), flush=True)
        cold = measure_coldstart()
    host = report.machine(dlt_python)
    host["scale"] = str(scale)
    host["added AWS latency ms"] = os.environ.get("BENCH_AWS_LATENCY_MS", "0")
    text = report.render(list(items.values()), results, cold, host)
    print(text)
    if os.environ.get("BENCH_JSON"):
        Path(os.environ["BENCH_JSON"]).write_text(
            json.dumps({"results": results, "coldstart": cold and cold.__dict__}, indent=1)
        )
    return 0


def run_step(
    stack: BenchStack,
    workload: Workload,
    tool: str,
    workdir: Path,
    dlt_python: Path,
    ends_at: float,
    round_: int = 1,
) -> dict[str, Any]:
    """One tool over one workload. A later round runs under names of its own (workspace, dlt
    pipeline, bucket prefix), so it starts from nothing, as the first did."""
    base: dict[str, Any] = {"workload": workload.name, "tool": tool}
    left = ends_at - time.monotonic()
    if left < 5:
        return {**base, "status": "not run: time limit"}
    again = f"-r{round_}" if round_ > 1 else ""
    stem = f"{tool}-{workload.name.replace('/', '_')}{again}"
    out = workdir / f"{stem}.json"
    name = workload.workspace
    if tool in ("ours", "ours-s3"):
        name = workload.workspace + ("-s3" if tool == "ours-s3" else "") + again
        stack.put_secret([{"name": name, "api_key": workload.api_key}])
        notify = {"NOTIFY_EVENT_TYPES": ""} if tool == "ours-s3" else {}
        env = stack.env(**EXPORTER_ENV, **notify)
        command = [*exporter_python(), str(out)]
    else:
        env = stack.env(
            BENCH_API_URL=stack.local.api_url,
            BENCH_API_KEY=workload.api_key,
            BENCH_PIPELINE="leadlex_" + (workload.workspace + again).replace("-", "_"),
            BENCH_PIPELINES_DIR=str(workdir / "dlt-pipelines"),
            BENCH_BUCKET_URL=f"s3://{DLT_BUCKET}/{workload.workspace}{again}",
            RUNTIME__DLTHUB_TELEMETRY="false",
        )
        command = [str(dlt_python), "-m", "bench.run_dlt", str(out)]
    objects_before = stack.objects(DLT_BUCKET) if tool == "dlt" else (0, 0)
    stack.reset_calls()
    cpu_before = stack.cpu_seconds()
    with open(workdir / f"{stem}.log", "w") as log:
        try:
            subprocess.run(  # noqa: S603 - our interpreters, our modules
                command,
                env={**os.environ, **env},
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=left,
                check=True,
            )
        except subprocess.TimeoutExpired:
            return {**base, "status": "not finished: time limit"}
        except subprocess.CalledProcessError as exc:
            tail = (workdir / f"{stem}.log").read_text()[-2000:]
            return {**base, "status": f"failed (exit {exc.returncode})", "log_tail": tail}
    cpu_after = stack.cpu_seconds()
    result: dict[str, Any] = {**json.loads(out.read_text()), **base}
    result["api_calls"] = stack.api_calls(workload.workspace)
    result["lower_bound"] = workload.lower_bound
    result["expected_events"] = workload.events
    result["server_cpu_seconds"] = {k: cpu_after[k] - cpu_before[k] for k in cpu_after}
    if tool != "dlt":
        # Outside the measurement: every exported event is in S3 exactly once.
        result["s3_records"], result["s3_distinct_ids"] = stack.exported_records(name)
    if tool == "dlt":
        count, size = stack.objects(DLT_BUCKET)
        result["s3_objects"] = count - objects_before[0]
        result["s3_object_bytes"] = size - objects_before[1]
    return result


# The exporter runs as the Lambda runtime runs it: the `sam build` output and the runtime's
# boto3 on sys.path, no site-packages (`-I -S`). The dev .venv would add what the package does
# not ship: httpx's CLI extras alone (click, pygments, rich) are about 8 MB when installed.
_LAUNCH = (
    "import runpy, sys; out = sys.argv.pop(); sys.path[:0] = sys.argv[1:]; "
    "sys.argv = ['bench.run_ours', out]; runpy.run_module('bench.run_ours', run_name='__main__')"
)


def exporter_python() -> list[str]:
    build, runtime = build_dirs()
    if not (build / "leadlex_exporter").is_dir() or not (runtime / "boto3").is_dir():
        raise SystemExit(
            f"the exporter runs from {build} (`sam build`) with boto3 from {runtime}: "
            "run `make bench`, which makes both"
        )
    return [sys.executable, "-I", "-S", "-c", _LAUNCH, str(build), str(runtime), str(ROOT)]


def build_dirs() -> tuple[Path, Path]:
    build = Path(os.environ.get("BENCH_BUILD_DIR", ROOT / ".aws-sam/build/WorkerFunction"))
    runtime = Path(os.environ.get("BENCH_RUNTIME_DIR", ROOT / ".venv-bench/lambda-runtime"))
    return build, runtime


def measure_coldstart() -> coldstart.ColdStart | None:
    build, runtime = build_dirs()
    if not (build / "leadlex_exporter").is_dir() or not (runtime / "boto3").is_dir():
        print(f"cold start not measured: need {build} (sam build) and {runtime} (boto3)")
        return None
    return coldstart.measure(build, runtime)


if __name__ == "__main__":
    raise SystemExit(main())
