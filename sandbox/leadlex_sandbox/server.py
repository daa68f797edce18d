"""SandboxServer: the sandbox world served over real HTTP from a background thread."""

from __future__ import annotations

import threading
from types import TracebackType

from leadlex_sandbox.admin import ADMIN_PREFIX, Admin
from leadlex_sandbox.gateway import API_PREFIX, Gateway
from leadlex_sandbox.handler import SandboxHTTPServer
from leadlex_sandbox.world import World


class SandboxServer:
    def __init__(
        self, world: World, host: str = "127.0.0.1", port: int = 0, *, verbose: bool = False
    ) -> None:
        self.world = world
        self.host = host
        self.port = port
        self._verbose = verbose
        self._httpd: SandboxHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What a LeadLex client takes as its base URL (paths then start with /v1)."""
        return self.root_url + API_PREFIX

    @property
    def admin_url(self) -> str:
        return self.root_url + ADMIN_PREFIX

    def start(self) -> SandboxServer:
        if self._httpd is not None:
            raise RuntimeError("sandbox server already started")
        httpd = SandboxHTTPServer(
            (self.host, self.port), Gateway(self.world), Admin(self.world), self._verbose
        )
        self._httpd, self.port = httpd, httpd.server_address[1]
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="leadlex-sandbox",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd, self._thread = None, None

    def __enter__(self) -> SandboxServer:
        return self.start() if self._httpd is None else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
