"""A handler run inside X-Ray's `## lambda_handler` subsegment, by the function's own tracer
(leadlex_exporter.tracing and leadlex_consumer.tracing make it: they patch different modules)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer
    from aws_lambda_powertools.utilities.typing import LambdaContext

Result = TypeVar("Result")


def run_traced(
    tracer: Tracer,
    handle: Callable[[dict[str, Any], LambdaContext], Result],
    event: dict[str, Any],
    context: LambdaContext,
) -> Result:
    """handle(event, context) inside the `## lambda_handler` subsegment."""

    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Result:
        return handle(event, context)  # the subsegment takes this function's name

    traced = tracer.capture_lambda_handler(lambda_handler, capture_response=False)
    result: Result = traced(event, context)
    return result
