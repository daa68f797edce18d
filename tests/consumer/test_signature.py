"""The signature from the receiving side: docs/consumer.md's verify_signature, as users copy it.

Each case runs the function taken from the page itself; the test receiver uses the same code.
"""

from __future__ import annotations

import hmac
import inspect
import re
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from leadlex_consumer.settings import Settings
from leadlex_consumer.webhook import WebhookSender, sign
from tests.consumer import receiver as receiver_module
from tests.consumer.conftest import ROOT, SIGNING_SECRET
from tests.consumer.receiver import Receiver

DOCS = ROOT / "docs" / "consumer.md"
BODY = b'{"event_id":"evt_3f9a1c27d4e8","workspace":"acme","event":{"type":"clicked"}}'
T = 1_776_436_205  # 2026-04-17T14:30:05Z

Verify = Callable[..., bool]


def _documented_block() -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), re.S)
    (block,) = [b for b in blocks if "def verify_signature" in b]
    return str(block)


@pytest.fixture(scope="module")
def verify() -> Verify:
    namespace: dict[str, Any] = {}
    exec(_documented_block(), namespace)  # noqa: S102 - our own documentation
    return namespace["verify_signature"]  # type: ignore[no-any-return]


def _v1(header: str) -> str:
    return header.partition(",v1=")[2]


def test_the_documented_verifier_is_the_one_the_test_receiver_runs() -> None:
    assert inspect.getsource(receiver_module.verify_signature) in _documented_block()
    assert len(inspect.getsource(receiver_module.verify_signature).splitlines()) <= 20


def test_a_valid_delivery_is_accepted(verify: Verify) -> None:
    assert verify(BODY, sign(BODY, SIGNING_SECRET, T), SIGNING_SECRET, now=T + 2) is True


def test_a_tampered_body_is_rejected(verify: Verify) -> None:
    header = sign(BODY, SIGNING_SECRET, T)

    assert verify(BODY.replace(b"clicked", b"replied"), header, SIGNING_SECRET, now=T) is False
    assert verify(BODY + b" ", header, SIGNING_SECRET, now=T) is False


def test_a_signature_under_another_secret_is_rejected(verify: Verify) -> None:
    assert verify(BODY, sign(BODY, "whsec_other", T), SIGNING_SECRET, now=T) is False


@pytest.mark.parametrize("age", [301, 3_600, 86_400 * 30, -301])
def test_a_timestamp_beyond_the_tolerance_is_rejected(verify: Verify, age: int) -> None:
    header = sign(BODY, SIGNING_SECRET, T)

    assert verify(BODY, header, SIGNING_SECRET, now=T + age) is False


@pytest.mark.parametrize("age", [0, 299, 300, -300])
def test_a_timestamp_within_the_tolerance_is_accepted(verify: Verify, age: int) -> None:
    assert verify(BODY, sign(BODY, SIGNING_SECRET, T), SIGNING_SECRET, now=T + age) is True


def test_the_tolerance_is_a_parameter(verify: Verify) -> None:
    header = sign(BODY, SIGNING_SECRET, T)

    assert verify(BODY, header, SIGNING_SECRET, tolerance=60, now=T + 61) is False
    assert verify(BODY, header, SIGNING_SECRET, tolerance=900, now=T + 899) is True


def test_an_old_delivery_with_a_fresh_timestamp_is_rejected(verify: Verify) -> None:
    old = sign(BODY, SIGNING_SECRET, T)
    now = T + 3_600

    assert verify(BODY, f"t={now},v1={_v1(old)}", SIGNING_SECRET, now=now) is False


@pytest.mark.parametrize(
    "header",
    [
        "",
        "sha256=" + hmac.new(SIGNING_SECRET.encode(), BODY, "sha256").hexdigest(),  # old format
        f"t={T}",
        "v1=" + "0" * 64,
        f"t=x{T},v1=" + "0" * 64,
        f"t={T},t={T},v1=" + "0" * 64,
        "t=١٧٧٦٤٣٦٢٠٥,v1=" + "0" * 64,  # digits, but not ASCII ones
        f"t={T},v1=é" + "0" * 63,
        f"t={T},v1=",
    ],
)
def test_malformed_headers_are_rejected_without_raising(verify: Verify, header: str) -> None:
    assert verify(BODY, header, SIGNING_SECRET, now=T) is False


def test_any_v1_value_may_match_which_leaves_room_for_a_secret_rotation(verify: Verify) -> None:
    old, new = sign(BODY, "whsec_old", T), sign(BODY, SIGNING_SECRET, T)

    assert verify(BODY, f"{old},v1={_v1(new)}", SIGNING_SECRET, now=T) is True


def test_signatures_are_compared_in_constant_time(
    verify: Verify, monkeypatch: pytest.MonkeyPatch
) -> None:
    compared: list[tuple[bytes, bytes]] = []

    def refuse(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return False

    monkeypatch.setattr(hmac, "compare_digest", refuse)
    header = sign(BODY, SIGNING_SECRET, T)

    assert verify(BODY, header, SIGNING_SECRET, now=T) is False  # its verdict is the answer
    assert compared == [(_v1(header).encode(), _v1(header).encode())]


def _replay(receiver: Receiver, request: Any, **headers: str) -> int:
    original = {k: request.headers[k] for k in ("x-leadlex-signature", "x-leadlex-delivery-id")}
    response = httpx.post(receiver.url, content=request.body, headers={**original, **headers})
    return response.status_code


def test_a_real_delivery_replayed_after_the_tolerance_is_refused(receiver: Receiver) -> None:
    settings = Settings.from_env(
        {"WEBHOOK_URL": receiver.url, "WEBHOOK_SECRET_ID": "arn", "IDEMPOTENCY_TABLE": "t"}
    )
    with httpx.Client() as http:  # real clocks on both sides
        WebhookSender(http, settings, SIGNING_SECRET).send(
            BODY, workspace="acme", event_id="evt_3f9a1c27d4e8"
        )
    (delivered,) = receiver.requests
    assert (delivered.signature_ok, delivered.status) == (True, 200)

    receiver.clock = lambda: time.time() + 301
    stale = _replay(receiver, delivered)
    later = int(receiver.clock())
    refreshed = _replay(
        receiver,
        delivered,
        **{"x-leadlex-signature": f"t={later},v1={_v1(delivered.headers['x-leadlex-signature'])}"},
    )

    assert (stale, refreshed) == (401, 401)
    assert [r.signature_ok for r in receiver.requests] == [True, False, False]
