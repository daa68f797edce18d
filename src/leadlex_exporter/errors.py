"""The exporter's named errors; each is raised once, at the boundary that understands it.

    ExporterError
    ├── ConfigurationError        settings or the secret document are invalid (names the problem,
    │                             never a key)
    ├── LeadLexError              the API did not give us what we asked for
    │   ├── AuthenticationError   401 invalid_key: the key is revoked, expired or wrong
    │   ├── PermissionDeniedError 403 insufficient_permissions: the key lacks campaigns:read
    │   ├── CampaignNotFoundError 404 campaign_not_found
    │   ├── BadRequestError       another 4xx: our request was wrong; never retried
    │   ├── QuotaExhaustedError   the daily quota is spent (or down to the reserve) until reset_at
    │   └── UnavailableError      5xx, transport errors or malformed pages after the retries
    ├── OutOfTimeError            the invocation's deadline is too close to start another step
    ├── LeaseHeldError            another invocation holds this campaign's lease
    │   └── KeyBusyError          another worker holds the key (an on-demand request waits)
    ├── LeaseLostError            our lease was taken over: stop touching this campaign
    ├── ReplayRefusedError        a replay cannot run on this campaign (no first sync yet,
    │   │                         a backfill still walking, an empty range)
    │   └── ReplayBusyError       another invocation holds it or a commit is pending: try later
    └── DeliveryError             SQS kept rejecting entries after the retries

No message ever contains an API key: clients build messages from status codes, error codes,
request ids and campaign ids only.
"""

from __future__ import annotations


class ExporterError(Exception):
    """Base of every error the exporter raises on purpose."""


class ConfigurationError(ExporterError):
    """The environment or the secret document is invalid."""


class LeadLexError(ExporterError):
    """The LeadLex API did not give us what we asked for."""

    def __init__(self, message: str, *, status: int | None = None, request_id: str | None = None):
        super().__init__(message)
        self.status = status
        self.request_id = request_id


class AuthenticationError(LeadLexError):
    """401: the key is invalid, revoked or expired; nothing of this workspace can be read."""


class PermissionDeniedError(LeadLexError):
    """403: the key lacks campaigns:read."""


class CampaignNotFoundError(LeadLexError):
    """404: the campaign does not exist (any more) for this key."""


class BadRequestError(LeadLexError):
    """Another 4xx: the request itself was wrong; retrying cannot help."""


class QuotaExhaustedError(LeadLexError):
    """The daily quota is spent, or down to the reserve, until `reset_at` (Unix seconds)."""

    def __init__(self, message: str, *, reset_at: float | None, request_id: str | None = None):
        super().__init__(message, status=429, request_id=request_id)
        self.reset_at = reset_at


class UnavailableError(LeadLexError):
    """5xx, transport failures or malformed pages, still failing after the retries."""


class OutOfTimeError(ExporterError):
    """Too little of the invocation is left to start another step safely."""


class LeaseHeldError(ExporterError):
    """Another invocation holds this campaign's lease until it finishes or its deadline passes."""


class KeyBusyError(LeaseHeldError):
    """Another worker holds the key's lease: an on-demand request goes back to the work queue."""


class LeaseLostError(ExporterError):
    """A conditional write found another owner: this invocation must stop touching the campaign."""


class ReplayRefusedError(ExporterError):
    """A replay's preconditions do not hold for this campaign; nothing was fetched or written."""


class ReplayBusyError(ReplayRefusedError):
    """The campaign is leased by another invocation or has a commit pending: try later."""


class DeliveryError(ExporterError):
    """SQS kept rejecting notification entries after the retries."""


class PendingGroupError(ExporterError, ValueError):
    """A commit group left pending whose members' records disagree; it stays pending (and its
    campaigns do not move) until someone looks."""
