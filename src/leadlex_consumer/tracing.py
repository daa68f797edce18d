"""What X-Ray and the logs see of the webhook: its scheme and host, never its path or query.

Webhook URLs often carry a token (`/hooks/<token>`, `?key=...`). X-Ray's own httpx patch records
each request's path, and httpx logs the full URL at INFO, so:
- the consumer's tracer patches botocore only (AWS calls), and the webhook client gets
  OriginTracedTransport: one `remote` subsegment per attempt, named by host, whose URL is the
  origin (scheme://host[:port]);
- a filter on the `httpx` logger writes the origin in place of each URL it logs.

Tracing is opt-in (TRACE_SDK_CALLS, template parameter TraceSdkCalls): the Powertools Tracer
imports aws_xray_sdk (about 17 MB and 100 ms), so it is made on the first traced invocation only,
once per sandbox (TRACE_SDK_CALLS: leadlex_common.environment). `Tracing: Active` alone still
records each invocation's Lambda segments.
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer


# The AWS calls; "httpx" is left out on purpose (see the module's docstring).
TRACED_MODULES = ("botocore",)


@functools.cache
def sdk_tracer(service: str) -> Tracer:
    from aws_lambda_powertools import Tracer

    return Tracer(service=service, patch_modules=TRACED_MODULES)


def webhook_transport(service: str) -> httpx.BaseTransport | None:
    """The transport that traces webhook attempts, or None when the tracer is disabled
    (outside Lambda, or POWERTOOLS_TRACE_DISABLED). Like any transport given to httpx.Client,
    it ignores HTTP(S)_PROXY from the environment, which Lambda does not set."""
    tracer = sdk_tracer(service)
    if tracer.disabled:
        return None
    return OriginTracedTransport(httpx.HTTPTransport(), tracer.provider)


def url_origin(url: httpx.URL) -> str:
    """scheme://host[:port]: no user info, path, query or fragment."""
    return str(url.copy_with(userinfo=b"", path="", query=None, fragment=None))


class OriginTracedTransport(httpx.BaseTransport):
    """X-Ray's httpx subsegment, with the origin where X-Ray would put the URL's path."""

    def __init__(self, transport: httpx.BaseTransport, recorder: Any):
        self._transport = transport
        self._recorder = recorder  # aws_xray_sdk's xray_recorder (Tracer.provider)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self._recorder.in_subsegment(request.url.host, namespace="remote") as subsegment:
            if subsegment is not None:
                subsegment.put_http_meta("method", request.method)
                subsegment.put_http_meta("url", url_origin(request.url))
            response = self._transport.handle_request(request)
            if subsegment is not None:
                subsegment.put_http_meta("status", response.status_code)
            return response

    def close(self) -> None:
        self._transport.close()


class OriginsOnly(logging.Filter):
    """httpx logs `HTTP Request: POST <full URL> ...` at INFO: keep the origin only."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                url_origin(arg) if isinstance(arg, httpx.URL) else arg for arg in record.args
            )
        return True


def log_origins_only() -> None:
    """Install OriginsOnly on the `httpx` logger, once per process."""
    httpx_logger = logging.getLogger("httpx")
    if not any(isinstance(f, OriginsOnly) for f in httpx_logger.filters):
        httpx_logger.addFilter(OriginsOnly())
