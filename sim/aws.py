"""AWS for the simulation: moto in-process (`mock_aws`), the template's resources (made as
`make demo` makes them), and a record of every event object the exporter writes, with the
virtual time of its PUT."""

from __future__ import annotations

import contextlib
import gzip
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, cast

import boto3
from moto import mock_aws

from leadlex_exporter.jsoncodec import decode
from scripts import moto_locking
from scripts.local_stack import BUCKET, SECRET, TABLE, _create_resources
from sim.clock import VirtualClock

REGION = "us-east-1"
FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
}


class CachedSession(boto3.session.Session):
    """One client per service for the whole simulated day: a run asks for new ones each time,
    and creating them would cost more than the run itself."""

    def __init__(self) -> None:
        super().__init__(region_name=REGION)
        self._clients: dict[str, Any] = {}
        self._creating = threading.Lock()

    def client(self, service_name: str, *args: Any, **kwargs: Any) -> Any:
        with self._creating:
            if service_name not in self._clients:
                create: Any = super().client
                self._clients[service_name] = create(service_name, *args, **kwargs)
            return self._clients[service_name]


@dataclass
class Landings:
    """Event objects as their PUTs are made: (virtual Unix seconds, key, gzip body)."""

    clock: VirtualClock
    export_prefix: str = "events/"
    keys: set[str] = field(default_factory=set)  # every event object PUT (a check of listings)
    _puts: list[tuple[float, str, bytes]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def on_put(self, params: dict[str, Any], **_: Any) -> None:
        key = str(params.get("Key", ""))
        if key.startswith(self.export_prefix):
            with self._lock:
                self._puts.append((self.clock.now().timestamp(), key, bytes(params["Body"])))
                self.keys.add(key)

    def take(self) -> Iterator[tuple[float, tuple[str, str]]]:
        """(landing time, (campaign id, event id)) of every record PUT since the last take."""
        with self._lock:
            puts, self._puts = self._puts, []
        for at, _, body in puts:
            for line in gzip.decompress(body).splitlines():
                if line.strip():
                    record = decode(line)
                    yield at, (str(record.get("campaign_id")), str(record.get("id")))


@dataclass
class SimStack:
    session: CachedSession
    queue_url: str
    work_queue_url: str
    landings: Landings

    def env(self) -> dict[str, str]:
        return {
            "EXPORT_BUCKET": BUCKET,
            "NOTIFY_QUEUE_URL": self.queue_url,
            "WORK_QUEUE_URL": self.work_queue_url,
            "CHECKPOINT_TABLE": TABLE,
            "API_KEYS_SECRET_ID": SECRET,
            "SECRET_MAX_AGE_SECONDS": "86400",
        }


_QUEUE_COUNTS = (
    "approximate_number_of_messages",
    "approximate_number_of_messages_delayed",
    "approximate_number_of_messages_not_visible",
)


@contextlib.contextmanager
def cheap_queue_counts() -> Iterator[None]:
    """moto works out a queue's message counts (a scan of every message in it) each time one is
    sent, as part of the queue's attributes: quadratic over a simulated day's tens of thousands
    of notifications (measured: 1.3 s a batch at 2,000 messages). Nothing here reads the
    counts, so they are 0 while the simulation runs."""
    from moto.sqs.models import Queue

    saved = {name: getattr(Queue, name) for name in _QUEUE_COUNTS}
    for name in _QUEUE_COUNTS:
        setattr(Queue, name, property(lambda _: 0))
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(Queue, name, value)


@contextlib.contextmanager
def untracked_models() -> Iterator[None]:
    """moto keeps every model object it ever makes (`BaseModel.instances_tracked`, a list per
    class, read only by /moto-api/data.json and to dispose of S3 keys on reset), so nothing it
    made is ever freed. Above all DynamoDB's TransactWriteItems: it deep-copies the whole
    table first (its rollback copy), every Table and Item of those copies was kept, and the
    process grew by the table's size at each transaction (measured: Pro 345 MB -> 570 MB RSS
    over ticks 5-30, 1,700 copies of the checkpoint table and 360,000 items). Not tracked
    while the simulation runs; a key S3 drops is freed by the garbage collector instead."""
    from moto.core.common_models import BaseModel

    saved = BaseModel.__dict__["__new__"]

    def untracked(cls: type, *_: Any, **__: Any) -> Any:
        return object.__new__(cls)

    BaseModel.__new__ = staticmethod(untracked)  # type: ignore[method-assign]
    try:
        yield
    finally:
        BaseModel.__new__ = saved  # type: ignore[method-assign]


@contextlib.contextmanager
def item_rollback() -> Iterator[None]:
    """moto's TransactWriteItems deep-copies every table it writes before it starts (its
    rollback copy): at Org's 2,000 campaigns, the whole checkpoint table at each of the day's
    thousands of transactions (a day did not finish in 50 minutes). A transaction can change
    only the items it names, so here the copy is of those items, and a transaction that fails
    puts them back as they were; the tables themselves are not copied."""
    import copy

    import moto.dynamodb.models as models
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    class TablesNotCopied:  # the module's `copy`, but a Table is its own rollback copy
        @staticmethod
        def deepcopy(value: Any, memo: Any = None) -> Any:
            return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    saved = DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        with moto_locking.LOCK:
            before = []
            for entry in transact_items:
                _, op = next(iter(entry.items()))
                table = self.get_table(op["TableName"])
                attrs = op.get("Item") or op["Key"]
                hash_key = DynamoType(attrs[table.hash_key_attr])
                range_key = None
                if table.range_key_attr is not None:
                    range_key = DynamoType(attrs[table.range_key_attr])
                item = copy.deepcopy(table.get_item(hash_key, range_key))
                before.append((table, hash_key, range_key, item))
            try:
                saved(self, transact_items)
            except Exception:
                for table, hash_key, range_key, item in reversed(before):
                    table.delete_item(hash_key, range_key)
                    if item is not None and range_key is not None:
                        table.items[hash_key][range_key] = item
                    elif item is not None:
                        table.items[hash_key] = item
                raise

    saved_copy = getattr(models, "copy")  # noqa: B009 - the module's import, not an export
    setattr(models, "copy", TablesNotCopied)  # noqa: B010
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    try:
        yield
    finally:
        DynamoDBBackend.transact_write_items = saved  # type: ignore[method-assign]
        setattr(models, "copy", saved_copy)  # noqa: B010


@contextlib.contextmanager
def sim_stack(clock: VirtualClock, workspaces: list[dict[str, str]]) -> Iterator[SimStack]:
    """moto in this process; AWS_ENDPOINT_URL would bypass it, so it is unset meanwhile."""
    saved = {name: os.environ.get(name) for name in [*FAKE_ENV, "AWS_ENDPOINT_URL"]}
    os.environ.update(FAKE_ENV)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    moto_locking.apply()
    try:
        with mock_aws(), cheap_queue_counts(), untracked_models(), item_rollback():
            session, landings = CachedSession(), Landings(clock)
            # before any client exists: a client copies the session's handlers when made
            session.events.register("provide-client-params.s3.PutObject", landings.on_put)
            queue_url, work_queue_url = _create_resources(
                cast(Any, SimpleNamespace(client=session.client)), workspaces
            )
            yield SimStack(session, queue_url, work_queue_url, landings)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
