"""Settings: the only reader of os.environ. Fails naming every missing or invalid variable."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from leadlex_exporter.errors import ConfigurationError

DEFAULT_API_URL = "https://data.leadlex.com/functions/v1/api-gateway"


@dataclass(frozen=True)
class Settings:
    export_bucket: str
    notify_queue_url: str
    checkpoint_table: str
    secret_id: str
    api_url: str = DEFAULT_API_URL
    export_prefix: str = "events"
    quarantine_prefix: str = "quarantine"
    notify_event_types: frozenset[str] = frozenset({"clicked", "replied"})
    lookback_minutes: int = 10
    backfill_days: int = 0  # 0: everything the API still holds (it keeps 180 days)
    quota_reserve_percent: int = 10
    fresh_reserve_percent: int = 20
    batch_max_events: int = 50_000  # a commit group's soft size (twice this is the hard one)
    batch_max_seconds: int = 120  # a commit group's soft age
    max_calls_per_minute: int = 0  # 0: 80% of the plan's limit, read from X-RateLimit-Limit
    stop_margin_seconds: int = 45
    http_timeout_seconds: float = 20.0
    secret_max_age_seconds: int = 300
    run_interval_minutes: int = 15  # the schedule's rate: the planner spreads the quota over it
    max_poll_interval_minutes: int = 360  # every campaign is polled at least this often
    # a 429 with quota left and no Retry-After waits this long (the per-minute window)
    rate_limit_wait_seconds: int = 60
    poll_planning: str = "even"  # even: the planner; greedy: every campaign at every run
    work_queue_url: str = ""  # the dispatcher's work queue (the worker does not need it)
    # metrics per workspace too (a custom metric per name and workspace), not only per run
    workspace_metrics: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        problems: list[str] = []
        required = {
            "EXPORT_BUCKET": "export_bucket",
            "NOTIFY_QUEUE_URL": "notify_queue_url",
            "CHECKPOINT_TABLE": "checkpoint_table",
            "API_KEYS_SECRET_ID": "secret_id",
        }
        values: dict[str, object] = {}
        for var, field in required.items():
            if not env.get(var, "").strip():
                problems.append(f"{var} is not set")
            values[field] = env.get(var, "").strip()
        text = {
            "LEADLEX_API_URL": ("api_url", DEFAULT_API_URL),
            "EXPORT_PREFIX": ("export_prefix", "events"),
            "QUARANTINE_PREFIX": ("quarantine_prefix", "quarantine"),
        }
        for var, (field, default) in text.items():
            values[field] = (env.get(var) or default).strip().strip("/") or default
        values["work_queue_url"] = env.get("WORK_QUEUE_URL", "").strip()
        values["api_url"] = str(values["api_url"]).rstrip("/")
        if not str(values["api_url"]).startswith(("https://", "http://")):
            problems.append("LEADLEX_API_URL must start with https:// or http://")
        prefixes = [values["export_prefix"], values["quarantine_prefix"]]
        if any(_nested(a, b) for a in prefixes for b in prefixes if a is not b):
            problems.append("EXPORT_PREFIX and QUARANTINE_PREFIX must not nest")
        planning = (env.get("POLL_PLANNING") or "even").strip().lower()
        if planning not in ("even", "greedy"):
            problems.append(f"POLL_PLANNING must be even or greedy, got {planning!r}")
        values["poll_planning"] = planning
        per_workspace = env.get("WORKSPACE_METRICS", "").strip()
        if per_workspace.lower() not in ("", "true", "false"):
            problems.append(f"WORKSPACE_METRICS must be true or false, got {per_workspace!r}")
        values["workspace_metrics"] = per_workspace.lower() == "true"
        types = env.get("NOTIFY_EVENT_TYPES", "clicked,replied")
        values["notify_event_types"] = frozenset(t.strip() for t in types.split(",") if t.strip())
        numbers: dict[str, tuple[str, int, int, int]] = {
            "LOOKBACK_MINUTES": ("lookback_minutes", 10, 0, 24 * 60),
            "BACKFILL_DAYS": ("backfill_days", 0, 0, 3650),
            "QUOTA_RESERVE_PERCENT": ("quota_reserve_percent", 10, 0, 90),
            "FRESH_RESERVE_PERCENT": ("fresh_reserve_percent", 20, 0, 90),
            "BATCH_MAX_EVENTS": ("batch_max_events", 50_000, 100, 1_000_000),
            "BATCH_MAX_SECONDS": ("batch_max_seconds", 120, 1, 3_600),
            "MAX_CALLS_PER_MINUTE": ("max_calls_per_minute", 0, 0, 100_000),
            "STOP_MARGIN_SECONDS": ("stop_margin_seconds", 45, 0, 900),
            "HTTP_TIMEOUT_SECONDS": ("http_timeout_seconds", 20, 1, 300),
            "SECRET_MAX_AGE_SECONDS": ("secret_max_age_seconds", 300, 0, 86_400),
            "RUN_INTERVAL_MINUTES": ("run_interval_minutes", 15, 1, 1_440),
            "MAX_POLL_INTERVAL_MINUTES": ("max_poll_interval_minutes", 360, 1, 7 * 1_440),
            "RATE_LIMIT_WAIT_SECONDS": ("rate_limit_wait_seconds", 60, 0, 300),
        }
        for var, (name, fallback, low, high) in numbers.items():
            raw = env.get(var, "").strip()
            try:
                number = int(raw) if raw else fallback
            except ValueError:
                problems.append(f"{var} must be a whole number, got {raw!r}")
                continue
            if not low <= number <= high:
                problems.append(f"{var} must be between {low} and {high}, got {number}")
            values[name] = number
        longest, rate = values.get("max_poll_interval_minutes"), values.get("run_interval_minutes")
        if isinstance(longest, int) and isinstance(rate, int) and longest < rate:
            problems.append("MAX_POLL_INTERVAL_MINUTES must be at least RUN_INTERVAL_MINUTES")
        if problems:
            raise ConfigurationError("invalid configuration: " + "; ".join(problems))
        return cls(**values)  # type: ignore[arg-type]


def _nested(a: object, b: object) -> bool:
    return str(a) == str(b) or str(a).startswith(f"{b}/")
