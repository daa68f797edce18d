"""What the sandbox answers: a status, headers and bytes, plus the documented error envelope."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

JSON = "application/json"


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str = JSON
    headers: dict[str, str] = field(default_factory=dict)

    def with_headers(self, extra: dict[str, str]) -> Response:
        return replace(self, headers={**self.headers, **extra})


class ApiError(Exception):
    """A documented error answer; raised by routes, turned into a Response by the gateway."""

    def __init__(
        self, status: int, code: str, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details

    def to_response(self) -> Response:
        return error_response(self.status, self.code, self.message, self.details)


def json_response(status: int, payload: Any) -> Response:
    return Response(status, json.dumps(payload, separators=(",", ":")).encode("utf-8"))


def error_response(
    status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> Response:
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return json_response(status, {"error": error})


def field_error(name: str, problem: str) -> ApiError:
    return ApiError(
        400, "validation_error", f"Invalid {name}: {problem}", {"fields": {name: problem}}
    )


def events_response(payloads: list[bytes], page: int, per_page: int, total: int) -> Response:
    """Splice the stored event payloads into the envelope without decoding them."""
    meta = json.dumps({"page": page, "per_page": per_page, "total": total}, separators=(",", ":"))
    body = b'{"data":{"events":[' + b",".join(payloads) + b']},"meta":' + meta.encode() + b"}"
    return Response(200, body)
