"""A real webhook receiver on 127.0.0.1: it verifies signatures the way a user's endpoint would.

It answers 401 to a bad or stale signature, otherwise the next scripted status for the event id
(`answer("evt_1", 500, 500)`), then 200. Every request is recorded, verified or not.
`verify_signature` is the function the README gives receivers to copy, verbatim
(test_signature checks that the two stay the same).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def verify_signature(
    raw_body: bytes, header: str, secret: str, tolerance: int = 300, now: float | None = None
) -> bool:
    """True if `header` ("t=<unix seconds>,v1=<hex>") signs exactly this body, and its
    timestamp is within `tolerance` seconds of now: an older delivery is a replay."""
    fields = [part.strip().partition("=") for part in header.split(",")]
    stamps = [value for key, _, value in fields if key == "t"]
    signatures = [value for key, _, value in fields if key == "v1"]
    if len(stamps) != 1 or not (stamps[0].isascii() and stamps[0].isdigit()) or not signatures:
        return False
    age = (time.time() if now is None else now) - int(stamps[0])
    if abs(age) > tolerance:
        return False
    signed = stamps[0].encode() + b"." + raw_body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest().encode()
    # Constant time: how much of a guess matches must not show in how long the check takes.
    return any(hmac.compare_digest(expected, s.encode("utf-8", "replace")) for s in signatures)


@dataclass(frozen=True)
class Received:
    body: bytes
    headers: dict[str, str]
    signature_ok: bool
    status: int

    @property
    def event_id(self) -> str:
        return str(json.loads(self.body)["event_id"])


@dataclass
class Receiver:
    secret: str
    signature_header: str = "X-LeadLex-Signature"
    path: str = "/hooks/leadlex"
    tolerance: int = 300
    clock: Callable[[], float] = time.time
    requests: list[Received] = field(default_factory=list)
    scripted: dict[str, list[tuple[int, dict[str, str]]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{self.path}"

    def answer(self, event_id: str, *statuses: int, **headers: str) -> None:
        """Answer the next requests for `event_id` with these statuses (then 200)."""
        self.scripted.setdefault(event_id, []).extend((s, headers) for s in statuses)

    @property
    def delivered(self) -> list[str]:
        """Event ids of the requests that were verified and acknowledged with a 2xx."""
        return [r.event_id for r in self.requests if r.signature_ok and 200 <= r.status < 300]

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def verify(self, body: bytes, signature: str) -> bool:
        return verify_signature(body, signature, self.secret, self.tolerance, self.clock())

    def respond(self, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str]]:
        ok = self.verify(body, headers.get(self.signature_header.lower(), ""))
        status, extra = 401, {}
        if ok:
            with self._lock:
                queue = self.scripted.get(json.loads(body).get("event_id"), [])
                status, extra = queue.pop(0) if queue else (200, {})
        with self._lock:
            self.requests.append(Received(body, headers, ok, status))
        return status, extra


def _handler_for(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, extra = receiver.respond(body, headers)
            self.send_response(status)
            for name, value in extra.items():
                self.send_header(name.replace("_", "-"), value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
            return

    return Handler
