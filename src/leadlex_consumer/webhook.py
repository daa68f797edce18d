"""Signed delivery of one notification body to the webhook, over an injected httpx.Client.

Each attempt is signed anew: `X-LeadLex-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
"<t>.<raw body>">`. The timestamp is inside the signed bytes, so a receiver that rejects old
timestamps (docs/consumer.md, verify_signature) also rejects a captured delivery replayed later.
LeadLex's own webhooks sign the body alone, with an unsigned timestamp header; we do not.
The delivery id (X-LeadLex-Delivery-ID) is derived from the workspace name and the event id,
so every attempt and every redelivery of one event carries the same id and the receiver can drop
repeats, while the same event exported under two workspace names is two deliveries. The secret
lives only in WebhookSender and is used only by sign().
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from aws_lambda_powertools import Logger

from leadlex_common.backoff import jittered_backoff
from leadlex_consumer.errors import (
    ConfigurationError,
    OutOfTimeError,
    WebhookRejectedError,
    WebhookUnavailableError,
)
from leadlex_consumer.settings import Settings
from leadlex_consumer.tracing import log_origins_only

logger = Logger(service="leadlex-consumer", child=True)

USER_AGENT = "LeadLex-Exporter-Consumer/1.0"
DELIVERY_ID_HEADER = "X-LeadLex-Delivery-ID"
# Fixed forever: receivers may recompute a delivery id from the workspace and event id in the
# body (delivery_id below).
DELIVERY_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "leadlex-exporter:webhook-delivery")
RETRY_AFTER_CAP_SECONDS = 5.0
MAX_BACKOFF_SECONDS = 4.0
# Kept free after the last attempt: the idempotency record and the batch response.
END_MARGIN_SECONDS = 2.0


def sign(body: bytes, secret: str, timestamp: int) -> str:
    """The signature header's value: `t=<timestamp>,v1=<hex HMAC-SHA256 of "<t>.<body>">`."""
    signed = f"{timestamp}.".encode() + body
    return f"t={timestamp},v1=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def delivery_id(workspace: str, event_id: str) -> str:
    """UUIDv5 of the compact, ASCII-only JSON array [workspace, event_id]: no two pairs share a
    name, whatever characters either holds."""
    name = json.dumps([workspace, event_id], separators=(",", ":"))
    return str(uuid.uuid5(DELIVERY_ID_NAMESPACE, name))


def build_http_client(
    timeout_seconds: float, transport: httpx.BaseTransport | None = None
) -> httpx.Client:
    """The webhook's client; its URL's path and query never reach the logs (tracing.py)."""
    log_origins_only()
    # A redirect is not a delivery: the body would not reach the URL that was configured.
    return httpx.Client(
        timeout=httpx.Timeout(timeout_seconds), follow_redirects=False, transport=transport
    )


@dataclass(frozen=True)
class Delivery:
    delivery_id: str
    status: int
    attempts: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Failure:
    """An attempt worth repeating: 429, 5xx or a transport error."""

    status: int | None
    problem: str
    retry_after: float | None


class WebhookSender:
    def __init__(
        self,
        http: httpx.Client,
        settings: Settings,
        secret: str,
        *,
        seconds_left: Callable[[], float] = lambda: math.inf,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ):
        if not secret.strip():
            raise ConfigurationError("the webhook signing secret is empty")
        self.http = http
        self.url = settings.webhook_url
        self.signature_header = settings.signature_header
        self.timeout_seconds = settings.timeout_seconds
        self.max_attempts = settings.max_attempts
        self._secret = secret
        self.seconds_left = seconds_left
        self.now = now
        self.sleep = sleep
        self.jitter = jitter

    def __repr__(self) -> str:  # never the secret, never the URL
        return f"WebhookSender(signature_header={self.signature_header!r})"

    def send(self, body: bytes, *, workspace: str, event_id: str) -> Delivery:
        """POST `body` byte for byte; a 2xx, or a named WebhookError after in-process retries."""
        delivery = delivery_id(workspace, event_id)
        failure: Failure | None = None
        for attempt in range(1, self.max_attempts + 1):
            pause = self._backoff(attempt - 1, failure.retry_after) if failure else 0.0
            self._ensure_time_for(pause, event_id, failure, attempt - 1)
            if pause:
                self.sleep(pause)
            outcome = self._attempt(body, delivery, event_id, attempt)
            if isinstance(outcome, Delivery):
                return outcome
            failure = outcome
            logger.warning(
                "webhook attempt failed",
                event_id=event_id,
                delivery_id=delivery,
                attempt=attempt,
                status=failure.status,
                error=failure.problem,
            )
        assert failure is not None  # max_attempts >= 1
        raise WebhookUnavailableError(
            f"receiver unavailable for event {event_id} after {self.max_attempts} attempts"
            f" ({failure.problem})",
            status=failure.status,
            attempts=self.max_attempts,
        )

    def _attempt(
        self, body: bytes, delivery: str, event_id: str, attempt: int
    ) -> Delivery | Failure:
        try:
            response = self.http.post(self.url, content=body, headers=self._headers(body, delivery))
        except httpx.RequestError as exc:  # timeouts, refused connections, resets
            return Failure(status=None, problem=type(exc).__name__, retry_after=None)
        status = response.status_code
        if 200 <= status < 300:
            return Delivery(delivery_id=delivery, status=status, attempts=attempt)
        if status == 429 or status >= 500:
            return Failure(
                status=status, problem=f"http {status}", retry_after=_retry_after(response)
            )
        raise WebhookRejectedError(
            f"receiver answered {status} for event {event_id}", status=status, attempts=attempt
        )

    def _headers(self, body: bytes, delivery: str) -> dict[str, str]:
        # Signed at each attempt: a retry after backoff is as fresh as the first try.
        timestamp = int(self.now().timestamp())
        return {
            self.signature_header: sign(body, self._secret, timestamp),
            DELIVERY_ID_HEADER: delivery,
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
        }

    def _backoff(self, failures: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, RETRY_AFTER_CAP_SECONDS)
        return jittered_backoff(failures, first=0.5, cap=MAX_BACKOFF_SECONDS, jitter=self.jitter)

    def _ensure_time_for(
        self, pause: float, event_id: str, failure: Failure | None, attempts: int
    ) -> None:
        if self.seconds_left() < pause + self.timeout_seconds + END_MARGIN_SECONDS:
            raise OutOfTimeError(
                f"too little time left to deliver event {event_id}",
                status=failure.status if failure else None,
                attempts=attempts,
            )


def _retry_after(response: httpx.Response) -> float | None:
    """Retry-After in seconds; an HTTP date or garbage falls back to our own backoff."""
    try:
        return max(0.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return None
