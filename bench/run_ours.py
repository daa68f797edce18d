"""`python -m bench.run_ours OUT.json`: one exporter invocation in this process, measured.

The environment is the Lambda's (EXPORT_BUCKET, AWS_ENDPOINT_URL, ...). Every AWS operation is
counted by a botocore `before-call` hook on the session (by service and operation; S3 PUT
bodies by prefix and size, from `before-parameter-build`); the peak RSS is this process's own
(see `bench.rss`).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from typing import Any

from bench.rss import peak_rss_mb


class AwsCounter:
    def __init__(self, export_prefix: str) -> None:
        self.export_prefix = export_prefix + "/"
        self.operations: Counter[str] = Counter()
        self.http_sends = 0
        self.event_objects: list[int] = []  # gzip sizes of the objects under the export prefix
        self.other_put_bytes = 0
        self.partial_batches = 0  # SendMessageBatch requests with fewer than 10 entries
        self.transact_items = 0  # items written by TransactWriteItems

    def before_call(self, event_name: str, **_: Any) -> None:
        _provider, service, operation = event_name.split(".", 2)
        self.operations[f"{service}.{operation}"] += 1

    def before_put(self, params: dict[str, Any], **_: Any) -> None:
        """The API parameters of one PutObject (`before-call` sees only the wire request)."""
        size = len(params.get("Body") or b"")
        if str(params.get("Key", "")).startswith(self.export_prefix):
            self.event_objects.append(size)
        else:
            self.other_put_bytes += size

    def before_batch(self, params: dict[str, Any], **_: Any) -> None:
        self.partial_batches += len(params.get("Entries", [])) < 10

    def before_transact(self, params: dict[str, Any], **_: Any) -> None:
        self.transact_items += len(params.get("TransactItems", []))

    def before_send(self, **_: Any) -> None:
        self.http_sends += 1  # HTTP attempts, retries included

    def count(self, service: str, *operations: str) -> int:
        return sum(
            n
            for name, n in self.operations.items()
            if name.startswith(service + ".")
            and (not operations or name.split(".")[1] in operations)
        )


def main(out_path: str) -> None:
    started = time.perf_counter()

    import boto3
    import botocore

    import leadlex_exporter
    from leadlex_exporter import botocore_data
    from leadlex_exporter.clock import SystemClock
    from leadlex_exporter.key_export import KeyExport
    from leadlex_exporter.runtime import new_session
    from leadlex_exporter.settings import Settings
    from scripts.event_source import Recorder, local_tick

    import_seconds = time.perf_counter() - started
    rss_after_import = peak_rss_mb()
    settings = Settings.from_env(os.environ)
    session = new_session()  # as the handler makes it
    counter = AwsCounter(settings.export_prefix)
    session.events.register("before-call.*.*", counter.before_call)
    session.events.register("before-send.*.*", counter.before_send)
    session.events.register("before-parameter-build.s3.PutObject", counter.before_put)
    session.events.register("before-parameter-build.sqs.SendMessageBatch", counter.before_batch)
    session.events.register(
        "before-parameter-build.dynamodb.TransactWriteItems", counter.before_transact
    )
    clock = SystemClock()
    seconds = float(os.environ.get("BENCH_DEADLINE", "3600"))
    # The dispatcher and the event source are not the worker: their calls are not counted.
    platform = boto3.session.Session()
    recorder = Recorder(KeyExport(settings, clock, session))
    cpu_before = os.times()
    began = time.perf_counter()
    profile_to = os.environ.get("BENCH_PROFILE")  # a path: cProfile stats of the run go there
    if profile_to:
        import cProfile

        with cProfile.Profile() as profiler:
            summary = local_tick(settings, clock, platform, recorder, seconds)
        profiler.dump_stats(profile_to)
    else:
        summary = local_tick(settings, clock, platform, recorder, seconds)
    seconds = time.perf_counter() - began
    cpu_after = os.times()
    workspaces = summary["workspaces"]
    result = {
        "tool": "ours",
        "status": summary["status"],
        "stopped_early": summary["stopped_early"],
        "seconds": seconds,
        "cpu_seconds": (cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system),
        "cpu_user_seconds": cpu_after.user - cpu_before.user,
        "import_seconds": import_seconds,
        "events": sum(w["events_exported"] for w in workspaces),
        "notified": sum(w["events_notified"] for w in workspaces),
        "campaigns": sum(w["campaigns"] for w in workspaces),
        "commits": sum(
            getattr(w.stats, "commits", 0) for run in recorder.summaries for w in run.workspaces
        ),
        "failed_campaigns": sum(len(w["failed_campaigns"]) for w in workspaces),
        "own_api_calls": sum(w["api_calls"] for w in workspaces),
        "rss_after_import_mb": rss_after_import,
        "package": os.path.dirname(os.path.dirname(leadlex_exporter.__file__)),
        "botocore_data_trimmed": botocore_data.load(botocore.__version__) is not None,
        "peak_rss_mb": peak_rss_mb(),
        "aws": {
            "operations": dict(counter.operations),
            "http_sends": counter.http_sends,
            "s3_puts": counter.count("s3", "PutObject"),
            "s3_other": counter.count("s3") - counter.count("s3", "PutObject"),
            "event_objects": len(counter.event_objects),
            "event_object_bytes": sum(counter.event_objects),
            "other_put_bytes": counter.other_put_bytes,
            "sqs_requests": counter.count("sqs"),
            "sqs_partial_batches": counter.partial_batches,
            # items written: one per single-item request, one per item of a transaction
            "dynamodb_writes": counter.count(
                "dynamodb", "UpdateItem", "PutItem", "DeleteItem", "BatchWriteItem"
            )
            + counter.transact_items,
            "dynamodb_write_requests": counter.count(
                "dynamodb",
                "UpdateItem",
                "PutItem",
                "DeleteItem",
                "BatchWriteItem",
                "TransactWriteItems",
            ),
            "dynamodb_reads": counter.count("dynamodb", "GetItem", "Query", "BatchGetItem"),
        },
    }
    with open(out_path, "w", encoding="utf-8") as out:
        json.dump(result, out)


if __name__ == "__main__":
    main(sys.argv[1])
