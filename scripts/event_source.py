"""Lambda's SQS event source mapping, locally: the worker runs from the work queue as on AWS.

`EventSource.poll` receives up to `batch_size` messages, builds the batch event Lambda sends
(events/sqs-work-batch.json is one), invokes the handler, and deletes only the records missing
from the response's batchItemFailures. Failed records stay in flight until the queue's visibility
timeout, then come back; the queue's RedrivePolicy moves them to the dead-letter queue after
maxReceiveCount receives. A handler that raises fails the whole batch, as on Lambda.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from leadlex_exporter.summary import RunSummary
from leadlex_exporter.work_items import WorkItem

Handler = Callable[[dict[str, Any], Any], Any]


class LambdaContext:
    """What the Lambda runtime passes: a name, a request id and the time left."""

    memory_limit_in_mb = 512
    aws_request_id = "local-0000"

    def __init__(self, seconds: float = 900, function_name: str = "leadlex-exporter-worker"):
        self.function_name = function_name
        self.invoked_function_arn = (
            f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        )
        self.deadline = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return int((self.deadline - time.monotonic()) * 1000)


@dataclass
class EventSource:
    sqs: Any
    queue_url: str
    batch_size: int = 1  # as the template's mapping
    region: str = "us-east-1"
    responses: list[dict[str, Any]] = field(default_factory=list)

    def poll(self, handler: Handler, context: Any) -> int:
        """One receive and one invocation; the number of records handed over."""
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
            WaitTimeSeconds=0,
        ).get("Messages", [])
        if not messages:
            return 0
        event = {"Records": [self._record(m) for m in messages]}
        try:
            response = handler(event, context) or {}
        except Exception:  # noqa: BLE001 - Lambda: a function error fails the whole batch
            response = {"batchItemFailures": [{"itemIdentifier": m["MessageId"]} for m in messages]}
        self.responses.append(response)
        failed = {f["itemIdentifier"] for f in response.get("batchItemFailures") or []}
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(done)
                ],
            )
        return len(messages)

    def drain(self, handler: Handler, context: Callable[[], Any] = LambdaContext) -> int:
        """Poll until the queue has nothing visible; records handed over in all."""
        handed = 0
        while polled := self.poll(handler, context()):
            handed += polled
        return handed

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        body = message["Body"]
        arn = self._arn()
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": body,
            "attributes": dict(message.get("Attributes", {})),
            "messageAttributes": {
                name: {
                    "stringValue": value.get("StringValue"),
                    "stringListValues": [],
                    "binaryListValues": [],
                    "dataType": value["DataType"],
                }
                for name, value in message.get("MessageAttributes", {}).items()
            },
            "md5OfMessageAttributes": message.get("MD5OfMessageAttributes"),
            "md5OfBody": message.get("MD5OfBody") or hashlib.md5(body.encode()).hexdigest(),  # noqa: S324
            "eventSource": "aws:sqs",
            "eventSourceARN": arn,
            "awsRegion": self.region,
        }

    def _arn(self) -> str:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["QueueArn"]
        )
        return str(attributes["Attributes"]["QueueArn"])


class Recorder:
    """Wraps the worker's export (worker.KeyExport) and keeps each run's summary, so a local
    tick can show what every worker did; the worker's own response is the batch response."""

    def __init__(self, export: Callable[[WorkItem, Any], RunSummary | None]):
        self.export = export
        self.summaries: list[RunSummary] = []
        self.skipped = 0  # items done without a run: the key was busy or left the secret

    def __call__(self, work: WorkItem, time_left: Any) -> RunSummary | None:
        summary = self.export(work, time_left)
        if summary is None:
            self.skipped += 1
        else:
            self.summaries.append(summary)
        return summary


def tick_result(
    dispatched: dict[str, Any], summaries: list[RunSummary], skipped: int = 0
) -> dict[str, Any]:
    """One tick as a whole: the dispatcher's result and every worker's summary, workspaces in
    the secret's order (a key's workspaces stay together)."""
    runs = [s.as_dict() for s in summaries]
    workspaces = [w for run in runs for w in run["workspaces"]]
    order = [name for item in dispatched["work_items"] for name in item["workspaces"]]
    workspaces.sort(key=lambda w: order.index(w["workspace"]) if w["workspace"] in order else 0)
    stopped = [run["stopped_early"] for run in runs if run["stopped_early"]]
    return {
        "status": "ok"
        if dispatched["status"] == "ok" and all(run["status"] == "ok" for run in runs)
        else "partial_failure",
        "run_ids": [run["run_id"] for run in runs],
        "stopped_early": "time" if "time" in stopped else (stopped[0] if stopped else None),
        "invalid_entries": dispatched["invalid_entries"],
        "work_items_skipped": skipped,
        "workspaces": workspaces,
    }


def local_tick(
    settings: Any, clock: Any, session: Any, export: Callable[[WorkItem, Any], Any], seconds: float
) -> dict[str, Any]:
    """A schedule tick on the local stack: the dispatcher, then the work queue drained into the
    worker's batch processing (worker.process_batch) with `export` recorded. `session` is the
    dispatcher's and the event source's; the worker's export brings its own, as on AWS."""
    from leadlex_exporter.dispatcher import dispatch
    from leadlex_exporter.worker import process_batch

    dispatched = dispatch(settings, clock, session)
    recorder = export if isinstance(export, Recorder) else Recorder(export)
    source = EventSource(session.client("sqs"), settings.work_queue_url)
    source.drain(
        lambda event, context: process_batch(event, context, recorder),
        lambda: LambdaContext(seconds),
    )
    return tick_result(dispatched, recorder.summaries, recorder.skipped)
