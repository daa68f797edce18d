"""`python -m bench.moto_server -H 127.0.0.1 -p PORT`: moto's server, with queue depth made free.

Whenever moto reads one attribute of a queue it computes all of them, including three message
counts that each scan every message in the queue, and it reads one for each message it accepts.
Measured here: a SendMessageBatch took 8 ms on an empty queue and 183 ms with 1,000 messages
waiting, so a 30,000-event backfill spent minutes inside moto. Real SQS does not slow down with
depth. Those counts (ApproximateNumberOfMessages*, read neither by the exporter nor by the
benchmark) are made constant-time here. Computing all the attributes also converts every
attribute name from CamelCase for every message (a third of moto's CPU for a SendMessageBatch,
measured with cProfile); that pure string function is memoized here, its results unchanged.
For every request moto also finds the backend by listing its modules on disk and trying some
300 URL patterns; that lookup is remembered per host here, and werkzeug's access log is off.
The DynamoDB lock of scripts/moto_locking.py (used by
the tests and the demo too) applies as well.

moto's TransactWriteItems backs up the whole table before the transaction, once *for every item
in it*: a 100-item transaction deep-copied a 600-item table 100 times (measured: about half a
second of moto CPU per transaction; real DynamoDB costs a transaction per item written). The
backup is made once per table per transaction here; the transaction itself is moto's.

werkzeug's server ends every connection after one response ("Connection: close"), so each AWS
request paid a TCP connect, a new server thread and a close (measured: 70 of 72 requests of a
boto3 client reconnected). AWS endpoints keep connections alive and boto3 reuses them. Here a
request whose body length is known keeps its connection (what the app did not read of the body
is drained first); anything else still closes. BENCH_KEEP_ALIVE=0 turns that off.

BENCH_AWS_LATENCY_MS (default 0) adds that many milliseconds to every AWS request, to see how
the exporter fares when each request costs a round trip to a real region rather than loopback.
"""

from __future__ import annotations

import copy
import functools
import logging
import os
import selectors
import socket
import threading
import time
import types
from typing import Any

import moto.dynamodb.models as dynamodb_models
import moto.sqs.models as sqs_models
import werkzeug.serving as werkzeug_serving
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler
from moto.server import main
from moto.sqs.models import Queue

from scripts import moto_locking

Queue.approximate_number_of_messages = property(lambda self: len(self._messages))  # type: ignore[assignment,method-assign]
Queue.approximate_number_of_messages_delayed = property(lambda self: 0)  # type: ignore[assignment,method-assign]
Queue.approximate_number_of_messages_not_visible = property(lambda self: 0)  # type: ignore[assignment,method-assign]
sqs_models.camelcase_to_underscores = functools.lru_cache(maxsize=4096)(  # type: ignore[attr-defined]
    sqs_models.camelcase_to_underscores  # type: ignore[attr-defined]
)

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
        dynamodb_models.copy = types.SimpleNamespace(deepcopy=deepcopy)  # type: ignore[assignment,attr-defined]
        try:
            _transact(self, transact_items)
        finally:
            dynamodb_models.copy = copy  # type: ignore[attr-defined]


DynamoDBBackend.transact_write_items = _transact_with_one_backup  # type: ignore[method-assign]

_LATENCY = float(os.environ.get("BENCH_AWS_LATENCY_MS", "0")) / 1000
_dispatch = DomainDispatcherApplication.__call__


def _with_latency(self: Any, environ: dict[str, Any], start_response: Any) -> Any:
    if not str(environ.get("PATH_INFO", "")).startswith("/moto-api"):
        time.sleep(_LATENCY)
    return _dispatch(self, environ, start_response)


if _LATENCY:
    DomainDispatcherApplication.__call__ = _with_latency  # type: ignore[method-assign]


class _CountedInput:
    """wsgi.input that counts what the app read of the body."""

    def __init__(self, stream: Any):
        self._stream = stream
        self.consumed = 0

    def read(self, size: int = -1) -> bytes:
        data: bytes = self._stream.read(size)
        self.consumed += len(data)
        return data

    def readline(self, size: int = -1) -> bytes:
        data: bytes = self._stream.readline(size)
        self.consumed += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        count: int = self._stream.readinto(buffer) or 0
        self.consumed += count
        return count

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


_make_environ = MotoRequestHandler.make_environ
_run_wsgi = MotoRequestHandler.run_wsgi
_send_header = MotoRequestHandler.send_header


def _environ_counted(self: Any) -> dict[str, Any]:
    environ = _make_environ(self)
    length = str(environ.get("CONTENT_LENGTH") or "0")
    self.counted, self.length, self.chunked = None, 0, False
    if not environ.get("wsgi.input_terminated") and length.isdigit():
        self.counted, self.length = _CountedInput(environ["wsgi.input"]), int(length)
        environ["wsgi.input"] = self.counted
    return environ


def _header_kept_alive(self: Any, keyword: str, value: str) -> None:
    if keyword.lower() == "transfer-encoding":
        self.chunked = True  # the end of the body is the end of the connection: close it
    keep = getattr(self, "counted", None) is not None and not self.chunked
    if keep and keyword.lower() == "connection" and value.lower() == "close":
        return
    _send_header(self, keyword, value)


def _run_drained(self: Any) -> None:
    self.counted = None
    _run_wsgi(self)
    if self.counted is None or self.chunked:
        self.close_connection = True
        return
    rest = self.length - self.counted.consumed
    if rest > 0:
        self.rfile.read(rest)


class _NoDrain:
    """werkzeug reads whatever the socket holds after a response (it assumes the connection
    closes), which would eat the next request of a kept-alive one; _run_drained reads exactly
    the unread rest of the body instead."""

    def register(self, *_: Any) -> None:
        pass

    def select(self, timeout: float | None = None) -> list[Any]:
        return []

    def close(self) -> None:
        pass


_setup = MotoRequestHandler.setup


def _setup_no_delay(self: Any) -> None:
    # Headers and body go out in separate writes: with Nagle's algorithm and delayed ACKs, a
    # kept-alive connection would wait 40 ms for each response (measured).
    _setup(self)
    self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


_backend_for_host = DomainDispatcherApplication.get_backend_for_host


def _backend_for_host_once(self: Any, host: str | None) -> Any:
    """moto's lookup of the backend for a host, remembered per host: moto lists its modules on
    disk and tries some 300 URL patterns for every request, whatever the host (measured with
    py-spy: a sixth of the server's busy time on b)."""
    known = self.__dict__.setdefault("_bench_backends", {})
    if host not in known:
        known[host] = _backend_for_host(self, host)
    return known[host]


DomainDispatcherApplication.get_backend_for_host = _backend_for_host_once  # type: ignore[method-assign]
# One log line per request on stderr (werkzeug's access log) is not a cost AWS passes on.
logging.getLogger("werkzeug").setLevel(logging.WARNING)

if os.environ.get("BENCH_KEEP_ALIVE", "1") != "0":
    MotoRequestHandler.setup = _setup_no_delay  # type: ignore[method-assign]
    werkzeug_serving.selectors = types.SimpleNamespace(  # type: ignore[assignment,attr-defined]
        DefaultSelector=_NoDrain, EVENT_READ=selectors.EVENT_READ
    )
    MotoRequestHandler.make_environ = _environ_counted  # type: ignore[method-assign]
    MotoRequestHandler.send_header = _header_kept_alive  # type: ignore[method-assign]
    MotoRequestHandler.run_wsgi = _run_drained  # type: ignore[method-assign]

if __name__ == "__main__":
    moto_locking.apply()  # after the patch above: the lock is the outermost wrapper
    main()
