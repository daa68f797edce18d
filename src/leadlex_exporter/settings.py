"""Settings: the only reader of os.environ. Fails naming every missing or invalid variable."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from leadlex_common.environment import default_of, number, read_numbers
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
    lookback_minutes: int = number("LOOKBACK_MINUTES", 10, 0, 24 * 60)
    # 0: everything the API still holds (it keeps 180 days)
    backfill_days: int = number("BACKFILL_DAYS", 0, 0, 3650)
    quota_reserve_percent: int = number("QUOTA_RESERVE_PERCENT", 5, 0, 90)
    fresh_reserve_percent: int = number("FRESH_RESERVE_PERCENT", 20, 0, 90)
    # what history (first syncs, requested backfills) gets when fresh polls could use it all
    history_share_percent: int = number("HISTORY_SHARE_PERCENT", 10, 1, 90)
    # a commit group's soft size (twice this is the hard one)
    batch_max_events: int = number("BATCH_MAX_EVENTS", 50_000, 100, 1_000_000)
    batch_max_seconds: int = number("BATCH_MAX_SECONDS", 120, 1, 3_600)  # a group's soft age
    # 0: 80% of the plan's limit, read from X-RateLimit-Limit
    max_calls_per_minute: int = number("MAX_CALLS_PER_MINUTE", 0, 0, 100_000)
    stop_margin_seconds: int = number("STOP_MARGIN_SECONDS", 45, 0, 900)
    http_timeout_seconds: float = number("HTTP_TIMEOUT_SECONDS", 20, 1, 300)
    secret_max_age_seconds: int = number("SECRET_MAX_AGE_SECONDS", 300, 0, 86_400)
    # the schedule's rate: the planner spreads the quota over it
    run_interval_minutes: int = number("RUN_INTERVAL_MINUTES", 15, 1, 1_440)
    # every campaign is polled at least this often
    max_poll_interval_minutes: int = number("MAX_POLL_INTERVAL_MINUTES", 360, 1, 7 * 1_440)
    # what the planner aims at: median and p95 of clicked and replied events' staleness
    freshness_p50_minutes: int = number("FRESHNESS_P50_MINUTES", 60, 1, 7 * 1_440)
    freshness_p95_minutes: int = number("FRESHNESS_P95_MINUTES", 180, 1, 7 * 1_440)
    # a 429 with quota left and no Retry-After waits this long (the per-minute window)
    rate_limit_wait_seconds: int = number("RATE_LIMIT_WAIT_SECONDS", 60, 0, 300)
    poll_planning: str = "even"  # even: the planner; greedy: every campaign at every run
    work_queue_url: str = ""  # the dispatcher's work queue (the worker does not need it)
    # metrics per workspace too (a custom metric per name and workspace), not only per run
    workspace_metrics: bool = False
    metrics_namespace: str = "LeadLexExporter"

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
        paths = {
            "LEADLEX_API_URL": "api_url",
            "EXPORT_PREFIX": "export_prefix",
            "QUARANTINE_PREFIX": "quarantine_prefix",
        }
        for var, name in paths.items():
            default = default_of(cls, name)
            values[name] = (env.get(var) or default).strip().strip("/") or default
        # the metrics' namespace is Powertools' own variable, read here as Powertools reads it
        text = {
            "WORK_QUEUE_URL": "work_queue_url",
            "POWERTOOLS_METRICS_NAMESPACE": "metrics_namespace",
        }
        for var, name in text.items():
            values[name] = env.get(var, "").strip() or default_of(cls, name)
        values["api_url"] = str(values["api_url"]).rstrip("/")
        if not str(values["api_url"]).startswith(("https://", "http://")):
            problems.append("LEADLEX_API_URL must start with https:// or http://")
        prefixes = [values["export_prefix"], values["quarantine_prefix"]]
        if any(_nested(a, b) for a in prefixes for b in prefixes if a is not b):
            problems.append("EXPORT_PREFIX and QUARANTINE_PREFIX must not nest")
        planning = (env.get("POLL_PLANNING") or default_of(cls, "poll_planning")).strip().lower()
        if planning not in ("even", "greedy"):
            problems.append(f"POLL_PLANNING must be even or greedy, got {planning!r}")
        values["poll_planning"] = planning
        per_workspace = env.get("WORKSPACE_METRICS", "").strip()
        if per_workspace.lower() not in ("", "true", "false"):
            problems.append(f"WORKSPACE_METRICS must be true or false, got {per_workspace!r}")
        if per_workspace:
            values["workspace_metrics"] = per_workspace.lower() == "true"
        types = env.get("NOTIFY_EVENT_TYPES")
        if types is not None:
            values["notify_event_types"] = frozenset(
                t.strip() for t in types.split(",") if t.strip()
            )
        read_numbers(cls, env, values, problems)
        longest, rate = values.get("max_poll_interval_minutes"), values.get("run_interval_minutes")
        if isinstance(longest, int) and isinstance(rate, int) and longest < rate:
            problems.append("MAX_POLL_INTERVAL_MINUTES must be at least RUN_INTERVAL_MINUTES")
        p50, p95 = values.get("freshness_p50_minutes"), values.get("freshness_p95_minutes")
        if isinstance(p50, int) and isinstance(p95, int) and p50 > p95:
            problems.append("FRESHNESS_P50_MINUTES must be at most FRESHNESS_P95_MINUTES")
        if problems:
            raise ConfigurationError("invalid configuration: " + "; ".join(problems))
        return cls(**values)  # type: ignore[arg-type]


def _nested(a: object, b: object) -> bool:
    return str(a) == str(b) or str(a).startswith(f"{b}/")
