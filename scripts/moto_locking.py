"""moto's DynamoDB made safe under concurrent requests, as DynamoDB is.

moto handles each request on its own thread without a lock. A TransactWriteItems deep-copies
the table (its rollback copy) while another thread may be adding an attribute to one of its
items, and fails with "dictionary changed size during iteration" (seen here: a run settling a
crashed group while its leases were still being taken). Real DynamoDB applies each request
atomically. `apply()` puts one lock around moto's DynamoDB item operations; the tests (in
process and over HTTP), `make demo` and the benchmark use it.

`python -m scripts.moto_locking -H HOST -p PORT` is moto's server with the lock.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from moto.dynamodb.models import DynamoDBBackend

OPERATIONS = (
    "create_table",
    "delete_table",
    "put_item",
    "get_item",
    "update_item",
    "delete_item",
    "query",
    "scan",
    "transact_write_items",
    "execute_statement",
    "execute_transaction",
    "batch_execute_statement",
)
LOCK = threading.RLock()


def _locked(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        with LOCK:
            return method(*args, **kwargs)

    call.__dict__["locked"] = True
    return call


def apply() -> None:
    """Idempotent: each operation is wrapped once, whatever wrapped it before."""
    for name in OPERATIONS:
        method = getattr(DynamoDBBackend, name)
        if not getattr(method, "locked", False):
            setattr(DynamoDBBackend, name, _locked(method))


if __name__ == "__main__":
    from moto.server import main

    apply()
    main()
