"""SQS notifications: one message per notified event, sent in batches of ten.

Entries are batched as they are queued (`queue`) and held: `cut` hands a group's batches over
(HeldBatches), and they go out only when the commit has recorded the group as pending
(`HeldBatches.start`), so a group that fails before that sends nothing, and the next run's sends
are the first. The commit happens only after they were all delivered (`HeldBatches.wait`).
`drain` sends at once.

Entries that SQS reports as Failed are sent again with backoff; what still fails raises
DeliveryError so the commit does not happen and the next run sends the batch again.
"""

from __future__ import annotations

import hashlib
import random
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger

from leadlex_common.backoff import jittered_backoff
from leadlex_exporter.clock import Clock
from leadlex_exporter.errors import DeliveryError
from leadlex_exporter.jsoncodec import encode

logger = Logger(child=True)

MAX_BATCH_ENTRIES = 10
MAX_BATCH_BYTES = 250_000  # under SQS's 256 KiB per request, with room for attributes


# The body's format (docs/schemas/notification.schema.json). It changes only when a change
# would break a consumer (a field removed, renamed or retyped); added fields keep it.
SCHEMA_VERSION = 1
MAX_MESSAGE_BYTES = 240_000
ESSENTIAL_FIELDS = ("id", "type", "contact_id", "email", "step_id", "timestamp")


def message_body(event: dict[str, Any], workspace: str, campaign_id: str) -> str:
    """The webhook-style body; an event too large for SQS keeps its essential fields only."""
    text = _body(event, workspace, campaign_id)
    if len(text.encode()) <= MAX_MESSAGE_BYTES:
        return text
    logger.warning("event too large for one message, essentials sent", event_id=event.get("id"))
    essentials = {k: event.get(k) for k in ESSENTIAL_FIELDS if isinstance(event.get(k), str | None)}
    return _body(essentials, workspace, campaign_id, truncated=True)


def _body(event: dict[str, Any], workspace: str, campaign_id: str, truncated: bool = False) -> str:
    body: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "event_id": event.get("id"),
        "event_type": event.get("type"),
        "campaign_id": campaign_id,
        "workspace": workspace,
        "dedup_key": str(event.get("id")),
        "event": event,
    }
    if truncated:
        body["event_truncated"] = True  # the whole event is in S3
    return encode(body).decode()  # a lone surrogate stays an escape: SQS takes valid Unicode


def _attributes(event: dict[str, Any], workspace: str, campaign_id: str) -> dict[str, Any]:
    values = {
        "event_type": str(event.get("type")),
        "campaign_id": campaign_id,
        "workspace": workspace,
        "event_id": str(event.get("id")),
    }
    return {
        k: {"DataType": "String", "StringValue": _sendable(v)[:256]} for k, v in values.items() if v
    }


def _sendable(text: str) -> str:
    """SQS takes valid Unicode only: a lone surrogate is spelled as its escape."""
    return text.encode("utf-8", "backslashreplace").decode()


def _outcome(future: Future[None]) -> BaseException | None:
    try:
        future.result()
    except BaseException as exc:  # noqa: BLE001 - raised by HeldBatches.wait
        return exc
    return None


@dataclass
class HeldBatches:
    """A group's batches (SqsNotifier.cut): `start` sends them in the background, `wait`
    returns when all are delivered (or raises the first error); never started, nothing."""

    futures: list[Future[None]]
    entries: int
    error: BaseException | None = None
    chunks: list[list[dict[str, Any]]] | None = None
    notifier: SqsNotifier | None = None

    def start(self) -> None:
        chunks, self.chunks = self.chunks or [], None
        if self.notifier is not None:
            self.futures += [self.notifier._submit_chunk(chunk) for chunk in chunks]

    def wait(self) -> int:
        for future in self.futures:
            error = _outcome(future)
            if self.error is None:
                self.error = error
        self.futures = []
        if self.error is not None:
            raise self.error
        return self.entries


class SqsNotifier:
    def __init__(
        self,
        sqs_client: Any,
        queue_url: str,
        clock: Clock,
        *,
        max_attempts: int = 6,
        jitter: Callable[[], float] = random.random,
    ):
        self.sqs = sqs_client
        self.queue_url = queue_url
        self.fifo = queue_url.endswith(".fifo")
        self.clock = clock
        self.max_attempts = max_attempts
        self.jitter = jitter
        self.workers = 8
        self.requests = 0
        self.sent = 0
        self._lock = threading.Lock()
        self._buffer: list[dict[str, Any]] = []
        self._buffer_bytes = 0
        self._queued = 0
        self._held: list[list[dict[str, Any]]] = []  # full batches, until cut
        self._pool: ThreadPoolExecutor | None = None

    def sibling(self) -> SqsNotifier:
        """A notifier for the same queue with a buffer of its own: what it drains (a
        recovered group's notifications) never includes another group's half-sent ones."""
        return SqsNotifier(
            self.sqs,
            self.queue_url,
            self.clock,
            max_attempts=self.max_attempts,
            jitter=self.jitter,
        )

    def send(self, events: Iterable[dict[str, Any]], workspace: str, campaign_id: str) -> int:
        """Send now: every batch has been accepted, or this raised, when it returns."""
        for event in events:
            self.queue(self.entry(event, workspace, campaign_id))
        return self.drain()

    def queue(self, entry: dict[str, Any]) -> None:
        """Add a prepared entry (`entry`) to the batch filling; a full batch is held."""
        size = len(entry["MessageBody"].encode()) + 512
        if self._buffer and self._buffer_bytes + size > MAX_BATCH_BYTES:
            self._hold()
        self._buffer.append(entry)
        self._buffer_bytes += size
        self._queued += 1
        if len(self._buffer) == MAX_BATCH_ENTRIES:
            self._hold()

    @property
    def buffered(self) -> int:
        """Entries waiting for a batch to fill."""
        return len(self._buffer)

    @property
    def held(self) -> int:
        """Entries queued since the last cut (held in memory until then)."""
        return self._queued

    def cut(self) -> HeldBatches:
        """The batches queued since the last cut (a group's notifications), not sent yet."""
        if self._buffer:
            self._hold()
        sends = HeldBatches([], self._queued, chunks=self._held, notifier=self)
        self._held, self._queued = [], 0
        return sends

    def drain(self) -> int:
        """Send every batch queued since the last cut or drain and wait for them; raise if any
        of them could not be delivered. Returns how many entries that was."""
        sends = self.cut()
        try:
            sends.start()
            return sends.wait()
        finally:
            self.close()

    def close(self) -> None:
        """Stop the sending threads (after the batches already queued)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def discard(self) -> None:
        """Forget what is queued and not cut (its group failed; the next run sends it)."""
        self._buffer, self._buffer_bytes, self._held, self._queued = [], 0, [], 0

    def _hold(self) -> None:
        self._held.append(self._buffer)
        self._buffer, self._buffer_bytes = [], 0

    def _submit_chunk(self, chunk: list[dict[str, Any]]) -> Future[None]:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.workers)
            return self._pool.submit(self._send_chunk, chunk)

    def entry(self, event: dict[str, Any], workspace: str, campaign_id: str) -> dict[str, Any]:
        """The SendMessageBatch entry of one event, without its `Id` (given per batch)."""
        entry: dict[str, Any] = {
            "MessageBody": message_body(event, workspace, campaign_id),
            "MessageAttributes": _attributes(event, workspace, campaign_id),
        }
        if self.fifo:
            dedup = str(event.get("id"))
            if len(dedup) > 128 or not dedup.isascii():
                dedup = hashlib.sha256(dedup.encode("utf-8", "surrogatepass")).hexdigest()
            entry["MessageDeduplicationId"] = dedup
            entry["MessageGroupId"] = hashlib.sha256(
                campaign_id.encode("utf-8", "surrogatepass")
            ).hexdigest()[:64]
        return entry

    def _send_chunk(self, chunk: list[dict[str, Any]]) -> None:
        pending = [{"Id": f"m{i}", **entry} for i, entry in enumerate(chunk)]
        for attempt in range(1, self.max_attempts + 1):
            response = self.sqs.send_message_batch(QueueUrl=self.queue_url, Entries=pending)
            failed_ids = {f["Id"] for f in response.get("Failed", [])}
            with self._lock:
                self.requests += 1
                self.sent += len(pending) - len(failed_ids)
            if not failed_ids:
                return
            codes = sorted({f.get("Code", "?") for f in response.get("Failed", [])})
            logger.warning(
                "sqs entries rejected", count=len(failed_ids), codes=codes, attempt=attempt
            )
            pending = [e for e in pending if e["Id"] in failed_ids]
            if attempt < self.max_attempts:
                self.clock.sleep(jittered_backoff(attempt, first=0.2, cap=8.0, jitter=self.jitter))
        raise DeliveryError(f"SQS rejected {len(pending)} notification(s) after the retries")
