"""Configuration errors name every problem and never print a key."""

from __future__ import annotations

import json
from dataclasses import asdict, fields

import pytest

from leadlex_exporter.errors import ConfigurationError
from leadlex_exporter.settings import Settings
from leadlex_exporter.timestamps import parse_timestamp
from leadlex_exporter.workspaces import parse_secret

KEY = "wbk_" + "s" * 52


def test_missing_and_invalid_variables_are_all_named():
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env(
            {
                "EXPORT_BUCKET": "b",
                "LOOKBACK_MINUTES": "ten",
                "EXPORT_PREFIX": "data",
                "QUARANTINE_PREFIX": "data/quarantine",
            }
        )
    message = str(caught.value)
    for name in (
        "NOTIFY_QUEUE_URL",
        "CHECKPOINT_TABLE",
        "API_KEYS_SECRET_ID",
        "LOOKBACK_MINUTES",
        "must not nest",
    ):
        assert name in message


def test_defaults_match_the_contract():
    settings = Settings.from_env(
        {
            "EXPORT_BUCKET": "b",
            "NOTIFY_QUEUE_URL": "q",
            "CHECKPOINT_TABLE": "t",
            "API_KEYS_SECRET_ID": "s",
        }
    )
    assert settings.api_url == "https://data.leadlex.com/functions/v1/api-gateway"
    assert settings.notify_event_types == {"clicked", "replied"}
    assert settings.lookback_minutes == 10


def test_unset_variables_take_the_fields_declared_defaults():
    # Each default is declared once, on its field: a default read from the environment that
    # drifted from the field's (or a field that from_env forgot) shows here, field by field.
    required = {"export_bucket": "b", "notify_queue_url": "q", "checkpoint_table": "t"}
    read = Settings.from_env(
        {
            "EXPORT_BUCKET": "b",
            "NOTIFY_QUEUE_URL": "q",
            "CHECKPOINT_TABLE": "t",
            "API_KEYS_SECRET_ID": "s",
        }
    )
    declared = Settings(**required, secret_id="s")
    assert asdict(read) == asdict(declared)
    assert {f.name: type(getattr(read, f.name)) for f in fields(Settings)} == {
        f.name: type(getattr(declared, f.name)) for f in fields(Settings)
    }


def test_the_metrics_namespace_is_powertools_variable():
    env = {
        "EXPORT_BUCKET": "b",
        "NOTIFY_QUEUE_URL": "q",
        "CHECKPOINT_TABLE": "t",
        "API_KEYS_SECRET_ID": "s",
    }
    assert Settings.from_env(env).metrics_namespace == "LeadLexExporter"
    named = {**env, "POWERTOOLS_METRICS_NAMESPACE": " Acme "}
    assert Settings.from_env(named).metrics_namespace == "Acme"


def test_secret_entries_are_independent_and_errors_never_show_keys():
    document = json.dumps(
        {
            "workspaces": [
                {"name": "acme", "api_key": KEY, "campaigns": ["cmp_1", "cmp_1", "cmp_2"]},
                {"name": "beta", "api_key": KEY},
                {"name": "acme", "api_key": KEY},
                {"name": "bad-key", "api_key": "sk_" + KEY},
                {"api_key": KEY},
                {"name": "bad-list", "api_key": KEY, "campaigns": "cmp_1"},
                "just text",
            ]
        }
    )

    valid, invalid = parse_secret(document)

    assert [w.name for w in valid] == ["acme", "beta"]
    assert valid[0].campaigns == ("cmp_1", "cmp_2")
    assert valid[0].key_fingerprint == valid[1].key_fingerprint  # one key, one quota
    assert len(invalid) == 5
    assert "used twice" in invalid[0].problem
    for entry in invalid:
        assert "s" * 20 not in entry.problem
    assert KEY not in repr(valid)


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("2026-04-17T14:23:05Z", "2026-04-17T14:23:05+00:00"),
        ("2026-04-17T14:23:05.123Z", "2026-04-17T14:23:05.123000+00:00"),
        ("2026-04-17T14:23:05.123456789Z", "2026-04-17T14:23:05.123456+00:00"),
        ("2026-04-17T16:23:05+02:00", "2026-04-17T14:23:05+00:00"),
        ("2026-04-17 14:23:05", "2026-04-17T14:23:05+00:00"),
        ("2026-04-17t14:23:05z", "2026-04-17T14:23:05+00:00"),
        ("20260417T142305Z", "2026-04-17T14:23:05+00:00"),
    ],
)
def test_odd_but_valid_iso_timestamps_are_read(text, iso):
    parsed = parse_timestamp(text)
    assert parsed is not None
    assert parsed.isoformat() == iso


@pytest.mark.parametrize(
    "text", [None, "", "yesterday", "2026-04-17", 1713363785, "2026-13-01T00:00:00Z"]
)
def test_unreadable_timestamps_are_none(text):
    assert parse_timestamp(text) is None


@pytest.mark.parametrize(
    ("key", "named"),
    [
        ("wbk_" + "s" * 20 + "\u200b" + "s" * 31, "U+200B at position 24"),
        ("\ufeff" + KEY, "U+FEFF at position 0"),
        (KEY + "\u00a0", "U+00A0 at position 56"),
        ("wbk_" + "é" + "s" * 51, "U+00E9 at position 4"),
    ],
)
def test_a_key_with_an_invisible_or_non_ascii_character_is_an_invalid_entry(key, named):
    document = json.dumps(
        {"workspaces": [{"name": "zw", "api_key": key}, {"name": "ok", "api_key": KEY}]}
    )

    valid, invalid = parse_secret(document)

    assert [w.name for w in valid] == ["ok"]
    (entry,) = invalid
    assert "'zw'" in entry.problem
    assert named in entry.problem
    assert "s" * 20 not in entry.problem


def test_a_key_httpx_cannot_send_fails_its_workspace_only(stack, api, clock, caplog, monkeypatch):
    """Belt and braces: whatever slips past the secret's checks and breaks the HTTP client
    fails that workspace, names it, and the next workspace is still exported."""
    import leadlex_exporter.workspaces as workspaces
    from tests.conftest import run_exporter
    from tests.fakes import make_events

    monkeypatch.setattr(workspaces, "_check_key_characters", lambda key, label: None)
    good, bad = "wbk_" + "g" * 52, "wbk_" + "b" * 52 + "\u200b"  # httpx refuses U+200B
    api.keys[good], api.keys[bad] = "ok", "zw"
    api.campaigns["ok"] = [{"id": "c1", "status": "active"}]
    api.events["c1"] = make_events("c1", 3, clock.now())
    stack.put_secret(
        {"workspaces": [{"name": "zw", "api_key": bad}, {"name": "ok", "api_key": good}]}
    )

    result = run_exporter(stack, clock, api)

    by_name = {w["workspace"]: w for w in result["workspaces"]}
    assert by_name["zw"]["status"] == "failed"
    assert "API key" in by_name["zw"]["error"]
    assert by_name["ok"]["status"] == "ok"
    assert by_name["ok"]["events_exported"] == 3
    assert "b" * 20 not in caplog.text + json.dumps(result)


@pytest.mark.parametrize(("value", "expected"), [("", False), ("false", False), ("TRUE", True)])
def test_workspace_metrics_are_opt_in(value, expected):
    env = {"EXPORT_BUCKET": "b", "NOTIFY_QUEUE_URL": "q", "CHECKPOINT_TABLE": "t"}

    settings = Settings.from_env({**env, "API_KEYS_SECRET_ID": "s", "WORKSPACE_METRICS": value})

    assert settings.workspace_metrics is expected


def test_workspace_metrics_other_than_true_or_false_is_named():
    env = {"EXPORT_BUCKET": "b", "NOTIFY_QUEUE_URL": "q", "CHECKPOINT_TABLE": "t"}

    with pytest.raises(
        ConfigurationError, match="WORKSPACE_METRICS must be true or false, got 'yes'"
    ):
        Settings.from_env({**env, "API_KEYS_SECRET_ID": "s", "WORKSPACE_METRICS": "yes"})
