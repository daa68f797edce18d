"""`make bench`: the exporter and dlt's rest_api source on the same workloads, side by side.

    python -m bench                    # full sizes (300k / 200 x 1,000 / idle), about 4.5 minutes
    BENCH_SCALE=0.1 python -m bench    # a quick run

Modules: `workloads` (sizes and lower bounds), `stack` (moto + sandbox child processes),
`sandbox` (the bulk-seeded LeadLex API), `moto_server` (moto with its queue-depth cost removed),
`run_ours` and `run_dlt` (one measured run in its own process), `rss` (peak RSS), `coldstart`
(handler import time), `report` (the tables and the targets). docs/benchmarks.md has the numbers.
"""
