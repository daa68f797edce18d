"""`python -m bench.run_dlt OUT.json` (in the dlt venv): the peer, measured in its own process.

dlt's `rest_api` source pages `GET /v1/campaigns` and, for each campaign,
`GET /v1/campaigns/{id}/events` (per_page=100), then its pipeline normalizes and loads JSONL
(gzip, dlt's default) into the filesystem destination. Settings come from the environment:
BENCH_API_URL, BENCH_API_KEY, BENCH_PIPELINE, BENCH_PIPELINES_DIR, BENCH_BUCKET_URL and, for an
S3 bucket, AWS_ENDPOINT_URL. An incremental cursor on `timestamp` (its value at the start of the
run sent as from_date) is what a dlt user would set for the next runs, so the idle run is a fair
one. dlt keeps one cursor for all campaigns: a campaign whose newest event is older than another
campaign's could miss late events, a flaw the benchmark does not exercise.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

from bench.rss import peak_rss_mb

PER_PAGE = 100


def make_paginator() -> Any:
    from dlt.sources.helpers.rest_client.paginators import PageNumberPaginator

    class TotalItemsPaginator(PageNumberPaginator):  # type: ignore[misc]
        """Page numbers from 1; stops at ceil(meta.total / per_page), so no empty last page.

        dlt's own `page_number` paginator reads `total_path` as a count of pages, and with
        `meta.total` (a count of events) it would stop only at an empty page: one more call
        per campaign. This subclass gives dlt the same call count as the lower bound.
        """

        def __init__(self) -> None:
            super().__init__(base_page=1, page_param="page", total_path=None)

        def update_state(self, response: Any, data: Any = None) -> None:
            super().update_state(response, data)
            total = response.json().get("meta", {}).get("total")
            if isinstance(total, int) and (self.current_value - 1) * PER_PAGE >= total:
                self._has_next_page = False

    return TotalItemsPaginator()


def build_source(api_url: str, api_key: str) -> Any:
    from dlt.sources.rest_api import rest_api_source

    return rest_api_source(
        {
            "client": {
                "base_url": api_url.rstrip("/") + "/",
                "auth": {"type": "bearer", "token": api_key},
            },
            "resource_defaults": {"write_disposition": "append"},
            "resources": [
                {
                    "name": "campaigns",
                    "selected": False,
                    "endpoint": {
                        "path": "v1/campaigns",
                        "params": {"per_page": PER_PAGE},
                        "data_selector": "data.campaigns",
                        "paginator": make_paginator(),
                    },
                },
                {
                    "name": "events",
                    "include_from_parent": ["id"],
                    "endpoint": {
                        "path": "v1/campaigns/{resources.campaigns.id}/events",
                        # start_value, not the `type: incremental` param: that one sends the
                        # cursor's running maximum, which one campaign moves for all the next.
                        "params": {"per_page": PER_PAGE, "from_date": "{incremental.start_value}"},
                        "incremental": {
                            "cursor_path": "timestamp",
                            "initial_value": "2000-01-01T00:00:00Z",
                        },
                        "data_selector": "data.events",
                        "paginator": make_paginator(),
                    },
                },
            ],
        },
        max_table_nesting=0,  # keep `metadata` as the API sent it, as the exporter does
    )


def main(out_path: str) -> None:
    started = time.perf_counter()
    import dlt

    import_seconds = time.perf_counter() - started
    rss_after_import = peak_rss_mb()
    env = os.environ
    credentials = None
    if env["BENCH_BUCKET_URL"].startswith("s3://"):
        credentials = {
            "aws_access_key_id": env.get("AWS_ACCESS_KEY_ID", "local"),
            "aws_secret_access_key": env.get("AWS_SECRET_ACCESS_KEY", "local"),
            "region_name": env.get("AWS_DEFAULT_REGION", "us-east-1"),
            "endpoint_url": env["AWS_ENDPOINT_URL"],
        }
    pipeline = dlt.pipeline(
        pipeline_name=env["BENCH_PIPELINE"],
        pipelines_dir=env["BENCH_PIPELINES_DIR"],
        destination=dlt.destinations.filesystem(
            bucket_url=env["BENCH_BUCKET_URL"], credentials=credentials
        ),
        dataset_name="leadlex",
    )
    cpu_before = os.times()
    began = time.perf_counter()
    pipeline.run(
        build_source(env["BENCH_API_URL"], env["BENCH_API_KEY"]), loader_file_format="jsonl"
    )
    seconds = time.perf_counter() - began
    cpu_after = os.times()
    trace = pipeline.last_trace
    rows = trace.last_normalize_info.row_counts if trace.last_normalize_info else {}
    steps = {
        step.step: (step.finished_at - step.started_at).total_seconds() for step in trace.steps
    }
    result = {
        "tool": "dlt",
        "status": "ok",
        "seconds": seconds,
        "cpu_seconds": (cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system),
        "import_seconds": import_seconds,
        "events": int(rows.get("events", 0)),
        "steps": steps,
        "rss_after_import_mb": rss_after_import,
        "peak_rss_mb": peak_rss_mb(),
        "dlt_version": dlt.__version__,
    }
    with open(out_path, "w", encoding="utf-8") as out:
        json.dump(result, out)


if __name__ == "__main__":
    main(sys.argv[1])
