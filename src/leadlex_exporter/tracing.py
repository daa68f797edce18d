"""Opt-in X-Ray subsegments for every SDK call (template parameter TraceSdkCalls).

The Powertools Tracer imports aws_xray_sdk (about 17 MB and 100 ms) and patches boto3 and httpx,
so it is made on the first traced invocation only, once per sandbox (TRACE_SDK_CALLS:
leadlex_common.environment). `Tracing: Active` alone still records each invocation's Lambda
segments. The exporter's handler uses this module; the
consumer has its own (leadlex_consumer.tracing), which keeps webhook URLs out of traces.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer
    from aws_lambda_powertools.utilities.typing import LambdaContext

Result = TypeVar("Result")


@functools.cache
def sdk_tracer(service: str) -> Tracer:
    from aws_lambda_powertools import Tracer

    return Tracer(service=service)


def run_traced(
    service: str,
    handle: Callable[[dict[str, Any], LambdaContext], Result],
    event: dict[str, Any],
    context: LambdaContext,
) -> Result:
    """handle(event, context) inside the `## lambda_handler` subsegment."""

    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Result:
        return handle(event, context)  # the subsegment takes this function's name

    traced = sdk_tracer(service).capture_lambda_handler(lambda_handler, capture_response=False)
    result: Result = traced(event, context)
    return result
