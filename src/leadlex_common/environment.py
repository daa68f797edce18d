"""The readers of the environment both packages' settings.py use.

A numeric setting is declared once, as a dataclass field: its default, its variable and its
bounds (`number`); `read_numbers` reads every such field of a settings class.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field, fields
from typing import Any

_VARIABLE = "variable"
_BOUNDS = "bounds"


def number(variable: str, default: int, low: int, high: int) -> Any:
    """A whole-number field read from `variable`: `default` when unset, within [low, high]."""
    return field(default=default, metadata={_VARIABLE: variable, _BOUNDS: (low, high)})


def read_numbers(
    settings: type, env: Mapping[str, str], values: dict[str, object], problems: list[str]
) -> None:
    """Each `number` field of `settings` into values; each bad one named in problems."""
    for item in fields(settings):
        if _BOUNDS not in item.metadata:
            continue
        variable, (low, high) = item.metadata[_VARIABLE], item.metadata[_BOUNDS]
        raw = env.get(variable, "").strip()
        try:
            value = int(raw) if raw else item.default
        except ValueError:
            problems.append(f"{variable} must be a whole number, got {raw!r}")
            continue
        if not low <= value <= high:
            problems.append(f"{variable} must be between {low} and {high}, got {value}")
        values[item.name] = value


def default_of(settings: type, name: str) -> Any:
    """The default declared on the field `name` of the dataclass `settings`."""
    return next(item.default for item in fields(settings) if item.name == name)


def trace_sdk_calls(env: Mapping[str, str]) -> bool:
    """TRACE_SDK_CALLS=true: X-Ray subsegments per call (read before the settings are, so that
    reading them is traced too)."""
    return env.get("TRACE_SDK_CALLS", "").strip().lower() == "true"
