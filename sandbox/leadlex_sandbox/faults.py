"""Injected failures: each fault hits the next `count` matching API requests (or a random share).

Kinds: `status` (an error status), `rate_limit` (429 with quota left), `drop` (close the socket
without answering), `truncate` (a 200 cut in half), `nonjson` (a 200 of HTML), `slow` (sleep, then
answer), and `omit_retry_after` (the next real 429s come without Retry-After).
"""

from __future__ import annotations

import random
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

FAULT_KINDS = ("status", "rate_limit", "drop", "truncate", "nonjson", "slow", "omit_retry_after")


@dataclass
class Fault:
    kind: str
    remaining: int | None  # None: no limit on how often it fires
    path_regex: re.Pattern[str] | None = None
    status: int = 503
    retry_after: int | None = None
    seconds: float = 1.0
    probability: float | None = None

    def matches(self, path: str) -> bool:
        return self.path_regex is None or self.path_regex.search(path) is not None

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "remaining": self.remaining,
            "path_regex": self.path_regex.pattern if self.path_regex else None,
            "status": self.status,
            "retry_after": self.retry_after,
            "seconds": self.seconds,
            "probability": self.probability,
        }


class FaultPlan:
    def __init__(self, seed: int = 0) -> None:
        self._random = random.Random(seed)
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(
        self,
        kind: str,
        count: int | None = 1,
        path_regex: str | None = None,
        status: int | None = None,
        retry_after: int | None = None,
        seconds: float | None = None,
        probability: float | None = None,
    ) -> Fault:
        """Arm a fault; `count=None` keeps it armed (useful with `probability`)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {FAULT_KINDS}")
        if count is not None and count < 1:
            raise ValueError("count must be at least 1 (or None for unlimited)")
        if probability is not None and not 0.0 <= probability <= 1.0:
            raise ValueError("probability must be between 0 and 1")
        fault = Fault(
            kind=kind,
            remaining=count,
            path_regex=re.compile(path_regex) if path_regex else None,
            status=503 if status is None else int(status),
            retry_after=retry_after,
            seconds=1.0 if seconds is None else float(seconds),
            probability=probability,
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, path: str) -> Fault | None:
        """The first armed request fault that fires for `path`; it is used up by one."""
        return self._take(path, lambda kind: kind != "omit_retry_after")

    def take_retry_after_omission(self, path: str) -> bool:
        return self._take(path, lambda kind: kind == "omit_retry_after") is not None

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def armed(self) -> list[dict[str, Any]]:
        with self._lock:
            return [fault.describe() for fault in self._faults]

    def _take(self, path: str, wanted: Callable[[str], bool]) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if not wanted(fault.kind) or not fault.matches(path):
                    continue
                if fault.probability is not None and self._random.random() >= fault.probability:
                    continue
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                return fault
        return None
