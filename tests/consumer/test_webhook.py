"""WebhookSender against the real receiver: signature, headers, retries, rejections, time."""

from __future__ import annotations

import hmac
import socket
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from leadlex_consumer.errors import (
    ConfigurationError,
    OutOfTimeError,
    WebhookRejectedError,
    WebhookUnavailableError,
)
from leadlex_consumer.settings import Settings
from leadlex_consumer.webhook import DELIVERY_ID_NAMESPACE, WebhookSender, delivery_id, sign
from tests.consumer.conftest import SIGNING_SECRET
from tests.consumer.receiver import Receiver

BODY = '{"event_id":"evt_3f9a1c27d4e8","event":{"snippet":"Tuesday — 10:00"}}'.encode()
EVENT_ID = "evt_3f9a1c27d4e8"
WORKSPACE = "acme"
NOW = datetime(2026, 4, 17, 14, 30, 5, tzinfo=UTC)


@pytest.fixture
def receiver(receiver: Receiver) -> Receiver:
    """The shared receiver, its clock a second behind the sender's (which starts at NOW)."""
    receiver.clock = lambda: NOW.timestamp() + 1
    return receiver


def _sender(
    url: str, *, slept: list[float] | None = None, seconds_left: float = 900, **env: str
) -> WebhookSender:
    """A sender whose clock starts at NOW and moves on only when it sleeps."""
    settings = Settings.from_env(
        {"WEBHOOK_URL": url, "WEBHOOK_SECRET_ID": "arn", "IDEMPOTENCY_TABLE": "t", **env}
    )
    pauses = slept if slept is not None else []
    return WebhookSender(
        httpx.Client(timeout=settings.timeout_seconds),
        settings,
        SIGNING_SECRET,
        seconds_left=lambda: seconds_left,
        now=lambda: NOW + timedelta(seconds=sum(pauses)),
        sleep=pauses.append,
        jitter=lambda: 1.0,
    )


def _expected_signature(body: bytes, timestamp: int) -> str:
    """The scheme as the README states it, computed here independently of sign()."""
    signed = str(timestamp).encode() + b"." + body
    return f"t={timestamp},v1=" + hmac.new(SIGNING_SECRET.encode(), signed, "sha256").hexdigest()


def test_signature_is_the_hmac_of_timestamp_and_exact_body_and_verifies_on_the_receiver(
    receiver: Receiver,
) -> None:
    delivery = _sender(receiver.url).send(BODY, workspace=WORKSPACE, event_id=EVENT_ID)

    (request,) = receiver.requests
    assert request.signature_ok
    assert request.body == BODY
    expected = _expected_signature(BODY, int(NOW.timestamp()))
    assert request.headers["x-leadlex-signature"] == expected
    assert sign(BODY, SIGNING_SECRET, int(NOW.timestamp())) == expected
    assert (delivery.status, delivery.attempts) == (200, 1)


def test_each_attempt_is_signed_at_its_own_time(receiver: Receiver) -> None:
    receiver.answer(EVENT_ID, 503, 503, Retry_After="3")
    slept: list[float] = []

    _sender(receiver.url, slept=slept).send(BODY, workspace=WORKSPACE, event_id=EVENT_ID)

    stamps = [int(NOW.timestamp() + sum(slept[:n])) for n in range(len(slept) + 1)]
    signatures = [r.headers["x-leadlex-signature"] for r in receiver.requests]
    assert slept == [3.0, 3.0]
    assert signatures == [_expected_signature(BODY, t) for t in stamps]
    assert len(set(signatures)) == 3


def test_headers_carry_delivery_id_content_type_and_user_agent_and_no_unsigned_time(
    receiver: Receiver,
) -> None:
    _sender(receiver.url).send(BODY, workspace=WORKSPACE, event_id=EVENT_ID)

    headers = receiver.requests[0].headers
    assert "x-leadlex-timestamp" not in headers  # the only timestamp is the signed one
    assert headers["x-leadlex-delivery-id"] == str(
        uuid.uuid5(DELIVERY_ID_NAMESPACE, f'["{WORKSPACE}","{EVENT_ID}"]')
    )
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"] == "LeadLex-Exporter-Consumer/1.0"


def test_signature_header_name_is_a_setting(receiver: Receiver) -> None:
    receiver.signature_header = "X-Acme-Signature"

    _sender(receiver.url, WEBHOOK_SIGNATURE_HEADER="X-Acme-Signature").send(
        BODY, workspace=WORKSPACE, event_id=EVENT_ID
    )

    assert receiver.delivered == [EVENT_ID]


def test_429_and_5xx_are_retried_with_one_delivery_id(receiver: Receiver) -> None:
    receiver.answer(EVENT_ID, 503)
    receiver.answer(EVENT_ID, 429, Retry_After="2")
    slept: list[float] = []

    delivery = _sender(receiver.url, slept=slept).send(BODY, workspace=WORKSPACE, event_id=EVENT_ID)

    assert [r.status for r in receiver.requests] == [503, 429, 200]
    assert {r.headers["x-leadlex-delivery-id"] for r in receiver.requests} == {delivery.delivery_id}
    assert slept == [0.5, 2.0]  # backoff, then the receiver's Retry-After
    assert delivery.attempts == 3


def test_gives_up_after_the_last_attempt(receiver: Receiver) -> None:
    receiver.answer(EVENT_ID, 500, 502, 503)

    with pytest.raises(WebhookUnavailableError) as failed:
        _sender(receiver.url).send(BODY, workspace=WORKSPACE, event_id=EVENT_ID)

    assert (failed.value.status, failed.value.attempts) == (503, 3)
    assert receiver.delivered == []


def test_transport_errors_are_retried_then_reported_unavailable() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/hooks"
    slept: list[float] = []

    with pytest.raises(WebhookUnavailableError, match="ConnectError") as failed:
        _sender(url, slept=slept).send(BODY, workspace=WORKSPACE, event_id=EVENT_ID)

    assert failed.value.status is None
    assert len(slept) == 2


@pytest.mark.parametrize("status", [301, 400, 401, 404, 410, 422])
def test_other_answers_are_rejected_without_retrying(receiver: Receiver, status: int) -> None:
    receiver.answer(EVENT_ID, status)

    with pytest.raises(WebhookRejectedError) as rejected:
        _sender(receiver.url).send(BODY, workspace=WORKSPACE, event_id=EVENT_ID)

    assert (rejected.value.status, rejected.value.attempts) == (status, 1)
    assert len(receiver.requests) == 1


def test_no_attempt_starts_that_could_outlast_the_invocation(receiver: Receiver) -> None:
    with pytest.raises(OutOfTimeError):
        _sender(receiver.url, seconds_left=11.5).send(BODY, workspace=WORKSPACE, event_id=EVENT_ID)

    assert receiver.requests == []


def test_delivery_id_is_a_stable_uuid_of_the_workspace_and_the_event_id() -> None:
    one = delivery_id(WORKSPACE, EVENT_ID)

    assert one == delivery_id(WORKSPACE, EVENT_ID)
    assert one != delivery_id(WORKSPACE, "evt_other")
    assert one != delivery_id("acme-eu", EVENT_ID)
    assert delivery_id('a","b', "c") != delivery_id("a", 'b","c')  # no pair shares a name
    assert uuid.UUID(one).version == 5


def test_the_sender_never_shows_its_secret_or_url(receiver: Receiver) -> None:
    sender = _sender(receiver.url)

    assert SIGNING_SECRET not in repr(sender)
    assert receiver.url not in repr(sender)


def test_an_empty_secret_is_a_configuration_error() -> None:
    settings = Settings.from_env(
        {"WEBHOOK_URL": "https://x.test/h", "WEBHOOK_SECRET_ID": "a", "IDEMPOTENCY_TABLE": "t"}
    )

    with pytest.raises(ConfigurationError, match="secret is empty"):
        WebhookSender(httpx.Client(), settings, "  ")
