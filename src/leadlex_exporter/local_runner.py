"""Lambda's SQS event source mapping, locally: the worker runs from the work queue as on AWS.

`EventSource.poll` receives up to `batch_size` messages, builds the batch event Lambda sends
(events/sqs-work-batch.json is one), invokes the handler, and deletes only the records missing
from the response's batchItemFailures. Failed records stay in flight until the queue's visibility
timeout, then come back; the queue's RedrivePolicy moves them to the dead-letter queue after
maxReceiveCount receives. A handler that raises fails the whole batch, as on Lambda.

The local stack (`make demo`, the tests, the CLI against a local stack) drives the worker with
it; on AWS, Lambda does the same.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

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
