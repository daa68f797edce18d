"""The secret document: which workspaces, keys and campaigns to export.

Errors name the entry by position and name, never by key.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from leadlex_exporter.errors import ConfigurationError

MAX_NAME_LENGTH = 128


@dataclass(frozen=True)
class Workspace:
    name: str
    api_key: str = field(repr=False)
    campaigns: tuple[str, ...] | None = None

    @property
    def key_fingerprint(self) -> str:
        """A stable, irreversible label for the key: quotas belong to keys, not to names."""
        digest = hashlib.sha256(b"leadlex-exporter/quota/" + self.api_key.encode()).hexdigest()
        return digest[:20]


@dataclass(frozen=True)
class InvalidEntry:
    label: str
    problem: str


def parse_secret(document: str | bytes | None) -> tuple[list[Workspace], list[InvalidEntry]]:
    """Valid workspaces, plus entries that are invalid on their own (the others still run).

    A document that is not JSON or has no `workspaces` list raises ConfigurationError.
    """
    if document is None or not str(document).strip():
        raise ConfigurationError("the API-key secret is empty")
    try:
        data = json.loads(document)
    except (ValueError, TypeError):
        raise ConfigurationError("the API-key secret is not valid JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("workspaces"), list):
        raise ConfigurationError('the API-key secret must be {"workspaces": [ ... ]}')
    valid: list[Workspace] = []
    invalid: list[InvalidEntry] = []
    seen: set[str] = set()
    for index, entry in enumerate(data["workspaces"]):
        label = f"workspaces[{index}]"
        try:
            workspace = _parse_entry(entry, label)
        except ConfigurationError as exc:
            invalid.append(InvalidEntry(label=label, problem=str(exc)))
            continue
        if workspace.name in seen:
            problem = f"{label}: workspace name {workspace.name!r} is used twice"
            invalid.append(InvalidEntry(label=label, problem=problem))
            continue
        seen.add(workspace.name)
        valid.append(workspace)
    return valid, invalid


def _parse_entry(entry: object, label: str) -> Workspace:
    if not isinstance(entry, dict):
        raise ConfigurationError(f"{label} must be an object")
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ConfigurationError(f"{label}: 'name' must be a non-empty string")
    label = f"{label} ({name!r})" if len(name) <= MAX_NAME_LENGTH else label
    if len(name) > MAX_NAME_LENGTH or any(ord(c) < 32 for c in name):
        raise ConfigurationError(f"{label}: 'name' must be at most 128 printable characters")
    key = entry.get("api_key")
    if isinstance(key, str):
        _check_key_characters(key, label)
    if not isinstance(key, str) or not key.startswith("wbk_") or len(key) < 8:
        raise ConfigurationError(f"{label}: 'api_key' must be a LeadLex key starting with wbk_")
    campaigns = entry.get("campaigns")
    if campaigns is None:
        return Workspace(name=name, api_key=key)
    if not isinstance(campaigns, list) or not all(
        isinstance(c, str) and c.strip() and len(c) <= 256 for c in campaigns
    ):
        raise ConfigurationError(f"{label}: 'campaigns' must be a list of campaign id strings")
    return Workspace(name=name, api_key=key, campaigns=tuple(dict.fromkeys(campaigns)))


def _check_key_characters(key: str, label: str) -> None:
    """A key goes into an HTTP header: visible ASCII only. A space, a BOM or a zero-width
    space pasted with it is named by code point and position, never by the key's text."""
    for position, char in enumerate(key):
        if not 0x21 <= ord(char) <= 0x7E:
            raise ConfigurationError(
                f"{label}: 'api_key' has a character that is not visible ASCII "
                f"(U+{ord(char):04X} at position {position}); copy the key again"
            )
