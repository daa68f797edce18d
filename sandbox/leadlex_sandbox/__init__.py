"""A local LeadLex API for tests and `make demo`: real HTTP, seeded data, quotas and faults.

Usage:

    clock = Clock()
    world = World(clock=clock)
    world.add_workspace("acme", api_key="wbk_test", plan="starter")
    world.add_campaign("acme", "cmp_abc123", name="Q3 outreach")
    world.add_events("cmp_abc123", [{"id": "evt_1", "type": "sent", "timestamp": "..."}])
    with SandboxServer(world) as server:
        ...  # point a client at server.base_url
"""

from leadlex_sandbox.clock import Clock
from leadlex_sandbox.faults import FAULT_KINDS
from leadlex_sandbox.models import PLAN_LIMITS, Campaign, Workspace
from leadlex_sandbox.seed import generate_world, seed_workspace
from leadlex_sandbox.server import SandboxServer
from leadlex_sandbox.world import World

__all__ = [
    "FAULT_KINDS",
    "PLAN_LIMITS",
    "Campaign",
    "Clock",
    "SandboxServer",
    "Workspace",
    "World",
    "generate_world",
    "seed_workspace",
]
