"""The LeadLex API client over an injected httpx.Client: auth, pages, retries, quota.

The key lives only in the httpx.Client's default headers; no message, log line or exception
built here contains it.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlencode

import httpx
from aws_lambda_powertools import Logger

from leadlex_common.backoff import jittered_backoff
from leadlex_exporter.clock import Deadline
from leadlex_exporter.errors import (
    AuthenticationError,
    BadRequestError,
    CampaignNotFoundError,
    LeadLexError,
    PermissionDeniedError,
    QuotaExhaustedError,
    UnavailableError,
)
from leadlex_exporter.jsoncodec import decode
from leadlex_exporter.quota import Purpose, QuotaGuard

logger = Logger(child=True)

# An httpx.Client per API key (the real one: runtime.leadlex_http; tests: a MockTransport)
HttpFactory = Callable[[str], AbstractContextManager[httpx.Client]]
PER_PAGE = 100
SKIPPED_STATUSES = frozenset({"draft"})
# A 429 with quota left and no Retry-After (the API documents none): the per-minute window
MINUTE_WINDOW_SECONDS = 60.0


@dataclass(frozen=True)
class EventsPage:
    events: list[Any]
    total: int | None


class MalformedPageError(ValueError):
    """A 200 whose body is not the documented shape (truncated, HTML, missing fields)."""


def build_http_client(base_url: str, api_key: str, timeout: float) -> httpx.Client:
    return httpx.Client(
        base_url=base_url,
        headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        follow_redirects=False,
    )


class LeadLexClient:
    def __init__(
        self,
        http: httpx.Client,
        quota: QuotaGuard,
        deadline: Deadline,
        *,
        max_attempts: int = 6,
        jitter: Callable[[], float] = random.random,
        parallel: int = 2,
        minute_window: float = MINUTE_WINDOW_SECONDS,
    ):
        self.minute_window = minute_window
        self.http = http
        self.quota = quota
        self.deadline = deadline
        self.max_attempts = max_attempts
        self.jitter = jitter
        self._worker: ThreadPoolExecutor | None = None
        self.parallel = parallel
        # The API's clock minus ours, in seconds, from the Date header of the first page served
        # (whole seconds, so within about a second); None until then or without the header.
        self.clock_skew: float | None = None
        # Absolute URLs are built here: httpx then parses each once, instead of three times
        # to join a path and its params to the base URL (measured: 316 -> 273 us of CPU per
        # request). The URL is the same, to the byte.
        self._base = str(http.base_url)

    def fetch(
        self, campaign_id: str, page: int, from_date: str | None, to_date: str, purpose: Purpose
    ) -> Future[EventsPage]:
        """`events_page` on this client's worker threads (`parallel`, 2 by default), so a
        caller can process a page while the next is on its way, and one campaign's first page
        can come while another's pages do. The per-minute pacing holds for calls made at once.

        Never two pages of one window at once: a page must be served before the next one is
        asked for. Otherwise an event inserted meanwhile can push another across their border
        after the later page was served and before the earlier one was (measured: an event
        lost in tests/integration/test_api_and_aws_faults.py)."""
        if self._worker is None:
            self._worker = ThreadPoolExecutor(
                max_workers=self.parallel, thread_name_prefix="leadlex"
            )
        return self._worker.submit(self.events_page, campaign_id, page, from_date, to_date, purpose)

    def close(self) -> None:
        """Wait for a fetch still on its way (its result is not needed any more)."""
        if self._worker is not None:
            self._worker.shutdown(wait=True)
            self._worker = None

    def list_campaigns(self) -> Iterator[dict[str, Any]]:
        """Every campaign of the key's workspace but drafts; the response shape is undocumented."""
        page = 1
        while True:
            body = self._get(
                "/v1/campaigns", {"page": page, "per_page": PER_PAGE}, Purpose.FRESH, _campaigns_of
            )
            items, total = _campaigns_of(body), _total_of(body)
            for item in items:
                if str(item.get("status", "")).lower() not in SKIPPED_STATUSES:
                    yield item
            if total is not None and page * PER_PAGE >= total:
                return
            if total is None and len(items) < PER_PAGE:
                return
            page += 1

    def events_page(
        self, campaign_id: str, page: int, from_date: str | None, to_date: str, purpose: Purpose
    ) -> EventsPage:
        params: dict[str, Any] = {"page": page, "per_page": PER_PAGE, "to_date": to_date}
        if from_date is not None:
            params["from_date"] = from_date
        path = f"/v1/campaigns/{path_segment(campaign_id)}/events"
        body = self._get(path, params, purpose, _events_of)
        return EventsPage(events=_events_of(body), total=_total_of(body))

    def _get(
        self, path: str, params: dict[str, Any], purpose: Purpose, shape: Callable[[Any], object]
    ) -> Any:
        failure = "no attempt made"
        for attempt in range(1, self.max_attempts + 1):
            if not self.quota.allows(purpose):
                raise QuotaExhaustedError(
                    "daily quota down to its reserve", reset_at=self.quota.state.reset_at
                )
            self.deadline.check()
            self.quota.wait_for_slot(self.deadline)
            try:
                response = self.http.get(self._url(path, params))
            except httpx.TransportError as exc:
                failure = f"transport error ({type(exc).__name__})"
                self._back_off(attempt, None, failure, path)
                continue
            self.quota.observe(response.headers)
            request_id = response.headers.get("x-request-id")
            if response.status_code == 200:
                try:
                    body = decode(response.content)
                    shape(body)
                    if self.clock_skew is None:
                        self.clock_skew = clock_skew(
                            response.headers.get("date"), self.quota.clock.now()
                        )
                    return body
                except (ValueError, KeyError, TypeError, AttributeError):
                    failure = "malformed page"
                    self._back_off(attempt, None, failure, path, request_id)
                    continue
            failure = f"HTTP {response.status_code}"
            if response.status_code == 429:
                self._on_rate_limited(response, attempt, path, request_id)
                continue
            if response.status_code >= 500:
                self._back_off(attempt, None, failure, path, request_id)
                continue
            raise _client_error(response, request_id)
        raise UnavailableError(f"LeadLex kept failing on {path}: {failure}")

    def _url(self, path: str, params: dict[str, Any]) -> httpx.URL:
        if not self._base:  # a client without a base URL: nothing to join
            return httpx.URL(path, params=params)
        return httpx.URL(f"{self._base}{path.lstrip('/')}?{urlencode(params)}")

    def _on_rate_limited(
        self, response: httpx.Response, attempt: int, path: str, request_id: str | None
    ) -> None:
        remaining = response.headers.get("x-ratelimit-remaining")
        if remaining is not None and remaining.strip() in ("0", "0.0"):
            reset = self.quota.state.reset_at
            self.quota.mark_exhausted(reset)
            raise QuotaExhaustedError(
                "daily quota spent", reset_at=self.quota.state.reset_at, request_id=request_id
            )
        wait = _retry_after(response)
        if wait is None:  # pacing without a hint: wait out the per-minute window
            wait = self.minute_window * (1 + 0.2 * self.jitter())
        self._back_off(attempt, wait, "HTTP 429", path, request_id)

    def _back_off(
        self,
        attempt: int,
        retry_after: float | None,
        failure: str,
        path: str,
        request_id: str | None = None,
    ) -> None:
        logger.warning(
            "api call failed", path=path, failure=failure, attempt=attempt, request_id=request_id
        )
        if attempt >= self.max_attempts:
            return
        if retry_after is None:
            retry_after = jittered_backoff(attempt, first=1.0, cap=30.0, jitter=self.jitter)
        elif self.deadline.seconds_left() < retry_after:
            # Paced for longer than this run has left: this key is done for the run.
            raise QuotaExhaustedError(
                "rate limited for longer than the run has left", reset_at=None
            )
        self.deadline.check(retry_after)
        self.quota.clock.sleep(retry_after)


def path_segment(value: str) -> str:
    """One URL path segment, whatever the id holds: `/`, `?`, `#`, `..` cannot reshape the path."""
    encoded = quote(value, safe="")
    return encoded.replace(".", "%2E") if encoded in (".", "..") else encoded


def _client_error(response: httpx.Response, request_id: str | None) -> LeadLexError:
    code = _error_code(response)
    status = response.status_code
    message = f"LeadLex answered {status} {code}" + (
        f" (request {request_id})" if request_id else ""
    )
    kinds: dict[int, type[LeadLexError]] = {
        401: AuthenticationError,
        403: PermissionDeniedError,
        404: CampaignNotFoundError,
    }
    return kinds.get(status, BadRequestError)(message, status=status, request_id=request_id)


def _error_code(response: httpx.Response) -> str:
    try:
        code = response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return "unknown_error"
    text = str(code)
    return text[:64] if text.replace("_", "").isalnum() else "unknown_error"


def clock_skew(date_header: str | None, now: datetime) -> float | None:
    """Seconds the server's clock is ahead of ours (negative: behind), from an HTTP `Date`
    header received at `now`; None without a readable one."""
    if not date_header:
        return None
    try:
        served = parsedate_to_datetime(date_header)
    except (TypeError, ValueError, IndexError):
        return None
    if served.tzinfo is None:  # "-0000": UTC without a claim about the local zone
        served = served.replace(tzinfo=UTC)
    return (served - now).total_seconds()


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return max(0.0, min(float(value), 900.0)) if value is not None else None
    except ValueError:
        return None


def _events_of(body: Any) -> list[Any]:
    events = body["data"]["events"]
    if not isinstance(events, list):
        raise MalformedPageError("data.events is not a list")
    return events


def _campaigns_of(body: Any) -> list[dict[str, Any]]:
    data = body.get("data", body) if isinstance(body, dict) else body
    items = data.get("campaigns") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise MalformedPageError("no campaign list in the response")
    return [_with_id(item) for item in items if isinstance(item, dict) and _id_of(item)]


def _id_of(item: dict[str, Any]) -> str | None:
    value = item.get("id", item.get("campaign_id"))
    return value if isinstance(value, str) and value else None


def _with_id(item: dict[str, Any]) -> dict[str, Any]:
    return {**item, "id": _id_of(item)}


def _total_of(body: Any) -> int | None:
    meta = body.get("meta") if isinstance(body, dict) else None
    total = meta.get("total") if isinstance(meta, dict) else None
    return total if isinstance(total, int) and total >= 0 else None
