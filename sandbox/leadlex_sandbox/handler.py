"""HTTP plumbing: turn a raw request into a Gateway or Admin call and write the answer back.

Never logs headers (they carry the API key); silent unless the server is verbose.
"""

from __future__ import annotations

import sys
import traceback
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from leadlex_sandbox.admin import ADMIN_PREFIX, Admin
from leadlex_sandbox.gateway import API_PREFIX, ApiRequest, Gateway
from leadlex_sandbox.responses import Response, error_response


class SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], gateway: Gateway, admin: Admin, verbose: bool
    ) -> None:
        self.gateway, self.admin, self.verbose = gateway, admin, verbose
        super().__init__(address, SandboxRequestHandler)


class SandboxRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: every answer carries Content-Length
    # Buffer the head and body into one send: two small writes on a kept-alive socket meet
    # Nagle's algorithm and delayed ACKs, costing ~40 ms per request.
    wbufsize = 64 * 1024
    server: SandboxHTTPServer

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._dispatch()

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch()

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch()

    def do_PATCH(self) -> None:  # noqa: N802
        self._dispatch()

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch()

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The `Date` header, by the sandbox's clock (which tests can move), like the rest."""
        if timestamp is None:
            timestamp = self.server.gateway.now().timestamp()
        return super().date_time_string(timestamp)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (signature from stdlib)
        if self.server.verbose:
            sys.stderr.write(f"sandbox {format % args}\n")  # request line, never headers

    def _dispatch(self) -> None:
        body = self._read_body()
        path, _, query_string = self.path.partition("?")
        try:
            response = self._route(path, query_string, body)
        except Exception:  # noqa: BLE001 (a sandbox bug must still answer, and be seen)
            traceback.print_exc(file=sys.stderr)
            response = error_response(500, "internal_error", "Sandbox error")
        if response is None:
            self.close_connection = True  # the `drop` fault: no status line at all
            return
        self._write(response)

    def _route(self, path: str, query_string: str, body: bytes) -> Response | None:
        if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
            query = {
                name: values[-1]
                for name, values in parse_qs(query_string, keep_blank_values=True).items()
            }
            request = ApiRequest(
                self.command,
                path[len(API_PREFIX) :] or "/",
                query,
                self.headers.get("Authorization"),
            )
            return self.server.gateway.handle(request)
        if path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/"):
            return self.server.admin.handle(self.command, path, body)
        return error_response(404, "not_found", "No such path")

    def _read_body(self) -> bytes:
        declared = self.headers.get("Content-Length", "0").strip()
        length = int(declared) if declared.isdigit() else 0
        return self.rfile.read(length) if length > 0 else b""

    def _write(self, response: Response) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("X-Request-ID", str(uuid.uuid4()))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(response.body)
