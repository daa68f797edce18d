"""Constants and small readers shared by the sandbox tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

ACME_KEY = "wbk_acme_test_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP"
GLOBEX_KEY = "wbk_globex_test_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLM"
CAMPAIGN = "cmp_abc123"
CONTACT = "123e4567-e89b-12d3-a456-426614174000"

MakeEvent = Callable[..., dict[str, Any]]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def events_of(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    return response.json()["data"]["events"]


def ids_of(response: httpx.Response) -> list[str]:
    return [event["id"] for event in events_of(response)]
