"""`python -m bench.moto_server -H 127.0.0.1 -p PORT`: moto's server, with queue depth made free.

Whenever moto reads one attribute of a queue it computes all of them, including three message
counts that each scan every message in the queue, and it reads one for each message it accepts.
Measured here: a SendMessageBatch took 8 ms on an empty queue and 183 ms with 1,000 messages
waiting, so a 30,000-event backfill spent minutes inside moto. Real SQS does not slow down with
depth. Those counts (ApproximateNumberOfMessages*, read neither by the exporter nor by the
benchmark) are made constant-time here; everything else is moto as installed.

BENCH_AWS_LATENCY_MS (default 0) adds that many milliseconds to every AWS request, to see how
the exporter fares when each request costs a round trip to a real region rather than loopback.
"""

from __future__ import annotations

import os
import time
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.server import main
from moto.sqs.models import Queue

Queue.approximate_number_of_messages = property(lambda self: len(self._messages))  # type: ignore[assignment,method-assign]
Queue.approximate_number_of_messages_delayed = property(lambda self: 0)  # type: ignore[assignment,method-assign]
Queue.approximate_number_of_messages_not_visible = property(lambda self: 0)  # type: ignore[assignment,method-assign]

_LATENCY = float(os.environ.get("BENCH_AWS_LATENCY_MS", "0")) / 1000
_dispatch = DomainDispatcherApplication.__call__


def _with_latency(self: Any, environ: dict[str, Any], start_response: Any) -> Any:
    if not str(environ.get("PATH_INFO", "")).startswith("/moto-api"):
        time.sleep(_LATENCY)
    return _dispatch(self, environ, start_response)


if _LATENCY:
    DomainDispatcherApplication.__call__ = _with_latency  # type: ignore[method-assign]

if __name__ == "__main__":
    main()
