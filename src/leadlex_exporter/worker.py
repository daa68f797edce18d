"""Lambda entry point of the work queue: one API key's workspaces per work item.

The queue's event source mapping hands over SQS batches (BatchSize 1 in template.yaml). Each
record is a work item (work_items.py) that key_export.KeyExport runs: it takes the key's lease,
runs the exporter (or an on-demand request) on that key's workspaces, and lets the lease go.
A record fails (it returns in batchItemFailures, comes back after the visibility timeout and
lands in the dead-letter queue after maxReceiveCount) only when the export could not run: a
body that is no work item, an unreadable secret, an error outside the exporter's per-workspace
isolation, an invocation that died. What the exporter isolates and
reports (a revoked key, a missing campaign) completes the item: the next tick is its retry.
A key whose lease another worker holds is served by that worker: the item is done (an
on-demand request comes back in two minutes instead).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from leadlex_common.environment import trace_sdk_calls
from leadlex_common.tracing import run_traced
from leadlex_exporter.clock import SystemClock
from leadlex_exporter.errors import KeyBusyError
from leadlex_exporter.key_export import KeyExport
from leadlex_exporter.runtime import lambda_session, warm_secrets
from leadlex_exporter.settings import Settings
from leadlex_exporter.summary import RunSummary
from leadlex_exporter.tracing import sdk_tracer
from leadlex_exporter.work_items import WorkItem

SERVICE = "leadlex-exporter"  # as POWERTOOLS_SERVICE_NAME in template.yaml
logger = Logger()

Export = Callable[[WorkItem, timedelta], RunSummary | None]


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    if trace_sdk_calls(os.environ):
        return run_traced(sdk_tracer(SERVICE), handle, event, context)
    return handle(event, context)


def handle(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    settings = Settings.from_env(os.environ)
    export = KeyExport(settings, SystemClock(), lambda_session(), secrets=warm_secrets())
    return process_batch(event, context, export, export.retry_soon)


def process_batch(
    event: dict[str, Any],
    context: LambdaContext,
    export: Export,
    retry_soon: Callable[[str], None] | None = None,
) -> PartialItemFailureResponse:
    """Each record on its own; the failed ones back to the queue by message id. An on-demand
    request whose key stays busy comes back sooner (`retry_soon`: its receipt handle)."""
    # A whole batch that failed is answered like a partial one (every id listed), not raised:
    # SQS retries the same records either way, and the response says which.
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

    def record_handler(record: SQSRecord) -> None:
        work = WorkItem.from_body(record.body)
        time_left = timedelta(milliseconds=context.get_remaining_time_in_millis())
        try:
            export(work, time_left)
        except KeyBusyError:
            if retry_soon is not None:
                retry_soon(record.receipt_handle)
            raise

    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
