"""`python -m bench.moto_server -H 127.0.0.1 -p PORT`: moto's server, with queue depth made free.

Whenever moto reads one attribute of a queue it computes all of them, including three message
counts that each scan every message in the queue, and it reads one for each message it accepts.
Measured here: a SendMessageBatch took 8 ms on an empty queue and 183 ms with 1,000 messages
waiting, so a 30,000-event backfill spent minutes inside moto. Real SQS does not slow down with
depth. Those counts (ApproximateNumberOfMessages*, read neither by the exporter nor by the
benchmark) are made constant-time here. The DynamoDB lock of scripts/moto_locking.py (used by
the tests and the demo too) applies as well.

moto's TransactWriteItems backs up the whole table before the transaction, once *for every item
in it*: a 100-item transaction deep-copied a 600-item table 100 times (measured: about half a
second of moto CPU per transaction; real DynamoDB costs a transaction per item written). The
backup is made once per table per transaction here; the transaction itself is moto's.

BENCH_AWS_LATENCY_MS (default 0) adds that many milliseconds to every AWS request, to see how
the exporter fares when each request costs a round trip to a real region rather than loopback.
"""

from __future__ import annotations

import copy
import os
import threading
import time
import types
from typing import Any

import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.server import main
from moto.sqs.models import Queue

from scripts import moto_locking

Queue.approximate_number_of_messages = property(lambda self: len(self._messages))  # type: ignore[assignment,method-assign]
Queue.approximate_number_of_messages_delayed = property(lambda self: 0)  # type: ignore[assignment,method-assign]
Queue.approximate_number_of_messages_not_visible = property(lambda self: 0)  # type: ignore[assignment,method-assign]

_transact = DynamoDBBackend.transact_write_items
_transact_lock = threading.Lock()


def _transact_with_one_backup(self: Any, transact_items: list[dict[str, Any]]) -> None:
    """moto's transaction, with each table's backup deep-copied once instead of per item."""
    backups: dict[int, Any] = {}

    def deepcopy(value: Any, memo: Any = None) -> Any:
        if isinstance(value, Table):
            if id(value) not in backups:
                backups[id(value)] = copy.deepcopy(value)
            return backups[id(value)]
        return copy.deepcopy(value, memo)

    with _transact_lock:  # the module's `copy` is swapped for the duration of the call
        dynamodb_models.copy = types.SimpleNamespace(deepcopy=deepcopy)  # type: ignore[assignment]
        try:
            _transact(self, transact_items)
        finally:
            dynamodb_models.copy = copy


DynamoDBBackend.transact_write_items = _transact_with_one_backup  # type: ignore[method-assign]

_LATENCY = float(os.environ.get("BENCH_AWS_LATENCY_MS", "0")) / 1000
_dispatch = DomainDispatcherApplication.__call__


def _with_latency(self: Any, environ: dict[str, Any], start_response: Any) -> Any:
    if not str(environ.get("PATH_INFO", "")).startswith("/moto-api"):
        time.sleep(_LATENCY)
    return _dispatch(self, environ, start_response)


if _LATENCY:
    DomainDispatcherApplication.__call__ = _with_latency  # type: ignore[method-assign]

if __name__ == "__main__":
    moto_locking.apply()  # after the patch above: the lock is the outermost wrapper
    main()
