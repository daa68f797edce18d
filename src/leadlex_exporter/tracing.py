"""Opt-in X-Ray subsegments for every SDK call (template parameter TraceSdkCalls).

The Powertools Tracer imports aws_xray_sdk (about 17 MB and 100 ms) and patches boto3 and httpx,
so it is made on the first traced invocation only, once per sandbox (TRACE_SDK_CALLS:
leadlex_common.environment). `Tracing: Active` alone still records each invocation's Lambda
segments. The exporter's handlers run under this tracer (leadlex_common.tracing.run_traced); the
consumer has its own (leadlex_consumer.tracing), which keeps webhook URLs out of traces.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer


@functools.cache
def sdk_tracer(service: str) -> Tracer:
    from aws_lambda_powertools import Tracer

    return Tracer(service=service)
