"""A Peppol world for store tests: the loopback SML/SMP (signed with the test PKI), the sandbox access
point over HTTP, a PeppolProvider with real discovery, the gateway API on a real port for callbacks,
and a worker. Used by test_ap_delivery.py, test_routing_lookup.py and test_official_responses_applied.py."""

from __future__ import annotations

import socket
import time

from sqlalchemy import select

from gateway.api.payloads import ClaimIn
from gateway.app import create_app
from gateway.channels.peppol.client import AccessPointClient
from gateway.channels.peppol.provider import PeppolProvider
from gateway.channels.registry import ProviderRegistry
from gateway.demo import BackgroundServer
from gateway.kit.time import utc_now
from gateway.peppol.discovery import ParticipantDiscovery
from gateway.peppol.sandbox_ap import SandboxAccessPoint
from gateway.services.auth import authenticate
from gateway.services.claims import create_claim
from gateway.store.models import AuditEvent, Dispatch, Job
from gateway.workers.run import Worker
from tests.peppol.fixtures_discovery import discovery_config

SECRET = "peppol-ap-test-secret"
API_KEY = "sandbox-ap-key"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class World:
    def __init__(self, database, settings, keys, smp, pki) -> None:
        self.database, self.settings, self.keys = database, settings, keys
        self.providers = ProviderRegistry()
        self.smp, self.pki = smp, pki
        self.ap: SandboxAccessPoint | None = None
        self.server: BackgroundServer | None = None

    def start_ap(self, callback_url: str | None) -> SandboxAccessPoint:
        self.ap = SandboxAccessPoint(standards_dir=self.settings.standards_dir, secret=SECRET, callback_url=callback_url, api_key=API_KEY).start()
        client = AccessPointClient(self.ap.base_url, API_KEY, connect_timeout_seconds=2, read_timeout_seconds=10)
        self.providers.add(PeppolProvider(client, ParticipantDiscovery(discovery_config(self.smp, self.pki)), callback_secret=SECRET, standards_dir=self.settings.standards_dir))
        self.worker = Worker(self.database, self.settings, name="t", providers=self.providers)
        return self.ap

    def serve(self) -> str:
        """The gateway API on a real port, so the sandbox's callbacks travel over HTTP."""
        port = free_port()
        self.server = BackgroundServer(create_app(self.settings, database=self.database, providers=self.providers), "127.0.0.1", port)
        self.server.start()
        return f"http://127.0.0.1:{port}/v1/callbacks/peppol-ap"

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
        if self.ap is not None:
            self.ap.stop()


def create(world: World, payload: dict) -> None:
    with world.database.session_scope() as session:
        create_claim(session, authenticate(session, world.keys.municipality_key), ClaimIn.model_validate(payload), now=utc_now())


def dispatches(database) -> list[Dispatch]:
    with database.session_scope() as session:
        return session.scalars(select(Dispatch).order_by(Dispatch.created_at, Dispatch.channel)).all()


def peppol_by_recipient(database) -> dict[str, Dispatch]:
    return {d.recipient: d for d in dispatches(database) if d.channel == "peppol"}


def buyer_responses(database) -> list[tuple[str, str, str]]:
    with database.session_scope() as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.action == "dispatch.reported").order_by(AuditEvent.id)).all()
        return [(e.data["dispatch_id"], e.data["response_code"], e.data.get("reason", "")) for e in events if e.data.get("response_kind") == "invoice_response"]


def make_due(database) -> None:
    with database.session_scope() as session:
        for job in session.scalars(select(Job).where(Job.state == "pending")):
            job.run_after = utc_now()


def settle(world: World) -> None:
    """Send, let the sandbox call back, apply the callbacks."""
    world.worker.drain()
    assert world.ap.wait_idle(60)
    time.sleep(0.05)
    world.worker.drain()
