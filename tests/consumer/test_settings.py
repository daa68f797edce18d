"""Settings: every problem named at once; only http(s) URLs; the URL never echoed."""

from __future__ import annotations

from dataclasses import asdict

import pytest

from leadlex_consumer.errors import ConfigurationError
from leadlex_consumer.settings import Settings

REQUIRED = {
    "WEBHOOK_URL": "https://hooks.example.com/leadlex/tok_8f2k",
    "WEBHOOK_SECRET_ID": "arn:aws:secretsmanager:us-east-1:123456789012:secret:hook-AbCdEf",
    "IDEMPOTENCY_TABLE": "leadlex-checkpoints",
}


def test_defaults_follow_leadlex_webhooks() -> None:
    settings = Settings.from_env(REQUIRED)

    assert settings.signature_header == "X-LeadLex-Signature"
    assert settings.timeout_seconds == 10
    assert settings.max_attempts == 3
    assert settings.idempotency_expiry_seconds == 7 * 86_400


def test_unset_variables_take_the_fields_declared_defaults() -> None:
    # Each default is declared once, on its field: one read from the environment that drifted
    # from the field's shows here, field by field.
    read = Settings.from_env(REQUIRED)
    declared = Settings(
        webhook_url=REQUIRED["WEBHOOK_URL"],
        secret_id=REQUIRED["WEBHOOK_SECRET_ID"],
        idempotency_table=REQUIRED["IDEMPOTENCY_TABLE"],
    )

    assert asdict(read) == asdict(declared)


def test_every_missing_variable_is_named() -> None:
    with pytest.raises(ConfigurationError) as failed:
        Settings.from_env({})

    for variable in REQUIRED:
        assert f"{variable} is not set" in str(failed.value)


@pytest.mark.parametrize(
    "url",
    ["ftp://hooks.example.com/x", "file:///etc/passwd", "hooks.example.com/x", "https:///tok_8f2k"],
)
def test_only_http_and_https_urls_are_accepted_and_never_echoed(url: str) -> None:
    with pytest.raises(ConfigurationError, match="WEBHOOK_URL must be") as failed:
        Settings.from_env({**REQUIRED, "WEBHOOK_URL": url})

    assert url not in str(failed.value)


def test_invalid_numbers_and_header_names_are_named() -> None:
    env = {
        **REQUIRED,
        "WEBHOOK_TIMEOUT_SECONDS": "ten",
        "WEBHOOK_MAX_ATTEMPTS": "0",
        "WEBHOOK_SIGNATURE_HEADER": "X Bad: header",
    }

    with pytest.raises(ConfigurationError) as failed:
        Settings.from_env(env)

    message = str(failed.value)
    assert "WEBHOOK_TIMEOUT_SECONDS must be a whole number" in message
    assert "WEBHOOK_MAX_ATTEMPTS must be between 1 and 10" in message
    assert "WEBHOOK_SIGNATURE_HEADER must be" in message


def test_the_url_is_not_part_of_the_settings_repr() -> None:
    assert REQUIRED["WEBHOOK_URL"] not in repr(Settings.from_env(REQUIRED))
