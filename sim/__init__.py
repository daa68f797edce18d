"""`make simulate`: whole UTC days of the exporter on a virtual clock against the sandbox's
quota model, to measure freshness per quota call (issue 14, item 4). See docs/simulation.md."""
