"""Lambda entry point of the reference consumer: notify-queue batches to a signed webhook.

Each record is forwarded on its own; the ones that failed go back to the queue by name
(ReportBatchItemFailures) and reach the dead-letter queue after maxReceiveCount receives.
"""

from __future__ import annotations

import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from leadlex_common.environment import trace_sdk_calls
from leadlex_common.tracing import run_traced
from leadlex_consumer.errors import ConfigurationError
from leadlex_consumer.forward import Forwarder, idempotency_config
from leadlex_consumer.settings import Settings
from leadlex_consumer.tracing import sdk_tracer, webhook_transport
from leadlex_consumer.webhook import WebhookSender, build_http_client

SERVICE = "leadlex-consumer"
logger = Logger(service=SERVICE)
processor = BatchProcessor(event_type=EventType.SQS)

AWS_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=3)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    if trace_sdk_calls(os.environ):
        return run_traced(sdk_tracer(SERVICE), handle, event, context)
    return handle(event, context)


def handle(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    settings = Settings.from_env(os.environ)
    secret = read_signing_secret(settings)
    dynamodb = boto3.session.Session().client("dynamodb", config=AWS_CONFIG)
    transport = webhook_transport(SERVICE) if trace_sdk_calls(os.environ) else None
    with build_http_client(settings.timeout_seconds, transport) as http:
        forwarder = Forwarder(
            sender=WebhookSender(
                http,
                settings,
                secret,
                seconds_left=lambda: context.get_remaining_time_in_millis() / 1000,
            ),
            persistence=DynamoDBPersistenceLayer(
                table_name=settings.idempotency_table,
                key_attr="pk",
                expiry_attr="ttl",
                boto3_client=dynamodb,
            ),
            config=idempotency_config(settings.idempotency_expiry_seconds, context),
        )
        return process_partial_response(
            event=event, record_handler=forwarder.handle, processor=processor, context=context
        )


def read_signing_secret(settings: Settings) -> str:
    """Powertools keeps the value for secret_max_age_seconds across warm invocations."""
    value = parameters.get_secret(settings.secret_id, max_age=settings.secret_max_age_seconds)
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError("the webhook signing secret must be a non-empty SecretString")
    return value.strip()
