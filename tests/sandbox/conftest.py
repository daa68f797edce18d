"""Fixtures for the LeadLex sandbox tests: a world with two workspaces, a live server, clients."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from leadlex_sandbox import Clock, SandboxServer, World

from tests.sandbox.helpers import ACME_KEY, CAMPAIGN, CONTACT, GLOBEX_KEY, MakeEvent, bearer


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def world(clock: Clock) -> World:
    world = World(clock=clock)
    world.add_workspace("acme", api_key=ACME_KEY, plan="org")
    world.add_workspace("globex", api_key=GLOBEX_KEY, plan="org")
    world.add_campaign("acme", CAMPAIGN, name="Q3 outreach", status="active")
    world.add_campaign("globex", "cmp_globex1", name="Globex intro", status="paused")
    return world


@pytest.fixture
def server(world: World) -> Iterator[SandboxServer]:
    with SandboxServer(world) as running:
        yield running


@pytest.fixture
def api(server: SandboxServer) -> Iterator[httpx.Client]:
    """A client authenticated as acme."""
    with httpx.Client(base_url=server.base_url, headers=bearer(ACME_KEY), timeout=10) as client:
        yield client


@pytest.fixture
def anonymous(server: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        yield client


@pytest.fixture
def make_event() -> MakeEvent:
    """Build a documented event; ids count up unless given."""
    counter = itertools.count(1)

    def build(timestamp: str, type: str = "sent", **fields: Any) -> dict[str, Any]:  # noqa: A002
        event = {
            "id": fields.pop("id", f"evt_{next(counter):012x}"),
            "type": type,
            "contact_id": fields.pop("contact_id", CONTACT),
            "email": "jane@example.com",
            "step_id": "step_1",
            "timestamp": timestamp,
            "metadata": {},
        }
        event.update(fields)
        return event

    return build
