"""The consumer's named errors; each fails one SQS record (it returns to the queue).

    ConsumerError
    ├── ConfigurationError        settings or the signing secret are unusable (names every
    │                             problem, never the secret)
    ├── MalformedMessageError     the SQS body is not a notification this consumer reads (not
    │                             JSON, no event id, a schema_version other than 1)
    └── WebhookError              the receiver did not take the delivery
        ├── WebhookRejectedError  it answered 3xx or 4xx other than 429: retrying now cannot help
        ├── WebhookUnavailableError  429, 5xx or transport errors, still after the retries
        └── OutOfTimeError        too little of the invocation is left for another attempt

A failed record comes back after the queue's visibility timeout; after maxReceiveCount
receives it lands in the notify dead-letter queue. No message here contains the secret or
the webhook URL (which may carry a token): only status codes, event ids and error names.
"""

from __future__ import annotations


class ConsumerError(Exception):
    """Base of every error the consumer raises on purpose."""


class ConfigurationError(ConsumerError):
    """The environment or the signing secret is unusable."""


class MalformedMessageError(ConsumerError):
    """The message body is not the exporter's notification JSON of a version this reads."""


class WebhookError(ConsumerError):
    """The receiver did not acknowledge the delivery with a 2xx."""

    def __init__(self, message: str, *, status: int | None = None, attempts: int = 0):
        super().__init__(message)
        self.status = status
        self.attempts = attempts


class WebhookRejectedError(WebhookError):
    """3xx or 4xx other than 429: the receiver refused this request."""


class WebhookUnavailableError(WebhookError):
    """429, 5xx or transport errors persisted through every in-process attempt."""


class OutOfTimeError(WebhookError):
    """The invocation ends before another attempt (timeout plus margin) could finish."""
