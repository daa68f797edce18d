"""`leadlex-exporter` in its own process, killed for the crash suite: SIGKILL right before the
Nth AWS call the functions it runs make (their Lambda session), with no `finally` run.

    KILL_AT_AWS_CALL=N python -m tests.integration.cli_runner replay --workspace ...
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from leadlex_exporter import cli, runtime


def main() -> int:
    kill_at = int(os.environ.get("KILL_AT_AWS_CALL", "0"))
    original = runtime.new_session
    calls = {"n": 0}

    def die_at_call(**_: Any) -> None:
        calls["n"] += 1
        if kill_at and calls["n"] >= kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    def session() -> Any:
        made = original()
        made.events.register("before-call.*.*", die_at_call)
        return made

    runtime.new_session = session  # what lambda_session() makes: the functions' clients
    return cli.main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
