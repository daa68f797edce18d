"""The use case for one SQS record: parse the notification, deliver it once per
(workspace, event id).

Idempotency (Powertools, DynamoDB) is keyed on the workspace name and the event id: a duplicate
message, in the same batch or days later, is answered from the stored record instead of being
delivered again. The workspace is part of the key because the secret may list one API key
under two names: the exporter then sends the same event once per name, and each is a delivery
of its own. A failed delivery leaves no record, so the message's next receive tries again. If
the process dies between the receiver's 2xx and the record being saved, the event is delivered
again with the same X-LeadLex-Delivery-ID.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from leadlex_consumer.errors import MalformedMessageError, WebhookError
from leadlex_consumer.webhook import WebhookSender

logger = Logger(service="leadlex-consumer", child=True)

# Items land in the shared checkpoint table as pk = "consumer#webhook#<md5 of the key>";
# the exporter's items start with campaign# or quota#. The template's IAM condition
# (dynamodb:LeadingKeys) limits the consumer to this prefix.
IDEMPOTENCY_KEY_PREFIX = "consumer#webhook"
# The notification formats this consumer reads (docs/schemas/notification.schema.json). A
# message without `schema_version` was sent before the field existed: the same format as 1.
SUPPORTED_SCHEMA_VERSIONS = frozenset({1})


@dataclass(frozen=True)
class Notification:
    workspace: str
    event_id: str
    event_type: str
    body: str  # the SQS body exactly as received: its UTF-8 bytes are signed and sent


def parse_notification(record: SQSRecord) -> Notification:
    try:
        message = json.loads(record.body)
    except ValueError as exc:
        raise MalformedMessageError(f"message {record.message_id} is not JSON") from exc
    if not isinstance(message, dict):
        raise MalformedMessageError(f"message {record.message_id} is not a JSON object")
    _check_schema_version(record.message_id, message.get("schema_version", 1))
    if message.get("event_id") in (None, ""):
        raise MalformedMessageError(f"message {record.message_id} has no event_id")
    # The body is what gets signed and sent; the attribute (cut to 256 characters) only
    # stands in for a body without one.
    attribute = record.message_attributes["workspace"]
    workspace = message.get("workspace") or (attribute.string_value if attribute else None)
    if not isinstance(workspace, str) or not workspace:
        raise MalformedMessageError(f"message {record.message_id} has no workspace")
    return Notification(
        workspace=workspace,
        event_id=str(message["event_id"]),
        event_type=str(message.get("event_type")),
        body=record.body,
    )


def _check_schema_version(message_id: str, version: Any) -> None:
    """A format this consumer does not know fails the message (to the DLQ after its
    receives) instead of being forwarded as something it is not."""
    if type(version) is not int or version not in SUPPORTED_SCHEMA_VERSIONS:
        supported = ", ".join(map(str, sorted(SUPPORTED_SCHEMA_VERSIONS)))
        raise MalformedMessageError(
            f"message {message_id} has schema_version {json.dumps(version)[:20]}; "
            f"this consumer reads version {supported}"
        )


def idempotency_config(expiry_seconds: int, context: LambdaContext) -> IdempotencyConfig:
    config = IdempotencyConfig(
        event_key_jmespath="[workspace, event_id]",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=expiry_seconds,
        response_hook=_log_duplicate,
    )
    # An in-progress record expires with this invocation, so a crash mid-delivery does not
    # block the message's next receive.
    config.register_lambda_context(context)
    return config


class Forwarder:
    def __init__(
        self,
        sender: WebhookSender,
        persistence: BasePersistenceLayer,
        config: IdempotencyConfig,
    ):
        self.sender = sender
        self._deliver_once: Callable[..., dict[str, Any]] = idempotent_function(
            data_keyword_argument="notification",
            persistence_store=persistence,
            config=config,
            key_prefix=IDEMPOTENCY_KEY_PREFIX,
        )(self._deliver)

    def handle(self, record: SQSRecord) -> dict[str, Any]:
        """The batch processor's record handler: a raised error fails only this record."""
        notification: Notification | None = None
        try:
            notification = parse_notification(record)
            return self._deliver_once(notification=notification)
        except Exception as exc:  # logged once, here; the record then returns to the queue
            logger.error(
                "webhook delivery failed",
                workspace=notification.workspace if notification else None,
                event_id=notification.event_id if notification else None,
                message_id=record.message_id,
                receive_count=record.attributes.approximate_receive_count,
                error=type(exc).__name__,
                status=exc.status if isinstance(exc, WebhookError) else None,
                # what is wrong with the body (it names the message, never its content)
                reason=str(exc) if isinstance(exc, MalformedMessageError) else None,
            )
            raise

    def _deliver(self, notification: Notification) -> dict[str, Any]:
        delivery = self.sender.send(
            notification.body.encode("utf-8"),
            workspace=notification.workspace,
            event_id=notification.event_id,
        )
        logger.info(
            "webhook delivered",
            workspace=notification.workspace,
            event_id=notification.event_id,
            event_type=notification.event_type,
            delivery_id=delivery.delivery_id,
            status=delivery.status,
            attempts=delivery.attempts,
        )
        return {
            "workspace": notification.workspace,
            "event_id": notification.event_id,
            **delivery.as_dict(),
        }


def _log_duplicate(response: Any, idempotent_data: DataRecord) -> Any:
    stored = response if isinstance(response, dict) else {}
    logger.info(
        "duplicate notification skipped",
        workspace=stored.get("workspace"),
        event_id=stored.get("event_id"),
        status=idempotent_data.status,
    )
    return response
