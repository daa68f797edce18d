"""The CLI's output: tables or JSON on stdout, a progress bar on stderr when it is a terminal."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO


class Output:
    def __init__(self, json_mode: bool, stream: TextIO | None = None):
        self.json = json_mode
        self.stream = stream or sys.stdout

    def line(self, text: str) -> None:
        print(text, file=self.stream)

    def emit(self, data: Any) -> None:
        print(json.dumps(data, indent=2, sort_keys=True, default=str), file=self.stream)

    def result(self, text: str, data: dict[str, Any]) -> None:
        if self.json:
            self.emit(data)
        else:
            self.line(text)

    def table(self, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
        cells = [[str(c) for c in header], *[[str(c) for c in row] for row in rows]]
        widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
        for n, row in enumerate(cells):
            self.line(
                "  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
            )
            if n == 0:
                self.line("  " + "  ".join("-" * w for w in widths))


class Progress:
    """A progress bar on stderr, when it is a terminal (never in --json output)."""

    def __init__(self, out: Output, total: int | None = None, stream: TextIO | None = None):
        self.total = total
        self.stream = stream or sys.stderr
        self.enabled = not out.json and self.stream.isatty()
        self.started = time.monotonic()
        self.drawn = False

    def update(self, done: int | None, label: str) -> None:
        if not self.enabled:
            return
        elapsed = int(time.monotonic() - self.started)
        if self.total and done is not None:
            filled = int(30 * done / self.total)
            bar = f"[{'#' * filled}{'.' * (30 - filled)}] {done}/{self.total}"
        else:
            spin = "|/-\\"[elapsed % 4]
            bar = f"[{spin}] {elapsed}s" + (f", {done} item(s)" if done else "")
        self.stream.write(f"\r{bar} {label[:40]:<40}")
        self.stream.flush()
        self.drawn = True

    def done(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
