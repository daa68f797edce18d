"""Settings: the only reader of os.environ. Fails naming every missing or invalid variable."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from leadlex_common.environment import number, read_numbers
from leadlex_consumer.errors import ConfigurationError

DEFAULT_SIGNATURE_HEADER = "X-LeadLex-Signature"
HEADER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*")


@dataclass(frozen=True)
class Settings:
    # The URL may carry a token of the receiver's (e.g. /hooks/<token>): never printed.
    webhook_url: str = field(repr=False)
    secret_id: str
    idempotency_table: str
    signature_header: str = DEFAULT_SIGNATURE_HEADER
    # LeadLex gives its own receivers 10 s to answer; we give ours the same.
    timeout_seconds: int = number("WEBHOOK_TIMEOUT_SECONDS", 10, 1, 30)
    max_attempts: int = number("WEBHOOK_MAX_ATTEMPTS", 3, 1, 10)
    # A duplicate arrives when the exporter resends after a crash, which may be days later
    # if its quota ran out; a week of idempotency records costs next to nothing.
    idempotency_expiry_seconds: int = number(
        "IDEMPOTENCY_EXPIRY_SECONDS", 7 * 86_400, 60, 366 * 86_400
    )
    secret_max_age_seconds: int = number("SECRET_MAX_AGE_SECONDS", 300, 0, 86_400)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        problems: list[str] = []
        values: dict[str, object] = {}
        required = {
            "WEBHOOK_URL": "webhook_url",
            "WEBHOOK_SECRET_ID": "secret_id",
            "IDEMPOTENCY_TABLE": "idempotency_table",
        }
        for var, name in required.items():
            values[name] = env.get(var, "").strip()
            if not values[name]:
                problems.append(f"{var} is not set")
        if values["webhook_url"] and not _is_http_url(str(values["webhook_url"])):
            problems.append("WEBHOOK_URL must be an http:// or https:// URL with a host")
        header = env.get("WEBHOOK_SIGNATURE_HEADER", "").strip() or DEFAULT_SIGNATURE_HEADER
        if not HEADER_NAME.fullmatch(header):
            problems.append("WEBHOOK_SIGNATURE_HEADER must be letters, digits and hyphens")
        values["signature_header"] = header
        read_numbers(cls, env, values, problems)
        if problems:
            raise ConfigurationError("invalid configuration: " + "; ".join(problems))
        return cls(**values)  # type: ignore[arg-type]


def _is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)
