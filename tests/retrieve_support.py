"""The three simulated parts wired for the retrieve flows: the service served over HTTP (SOAP for the simulated Web
Connector and QuickBooks company), the simulated Fusion API served over HTTP, and the delivery worker of the
connection's stored Fusion account, on the server's fake clock (its waits recorded, not slept)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from qbwc_service import connections, fusion_accounts, usecases
from qbwc_service.db.models import Delivery
from qbwc_service.delivery_worker import DeliveryWorker, Report
from qbwc_service.fusion.client import FusionClient
from qbwc_service.secretbox import SecretBox, new_key
from qbwc_service.settings import Settings, load_settings
from qbwc_service.simulate.fusion import SimulatedFusion
from qbwc_service.simulate.quickbooks import QuickBooksCompany
from tests.conftest import run_server
from tests.fusion_support import SEED_TOKEN, RecordedSleep, ThreeParts, serve_fusion
from tests.support import job_queue, pair


def retrieve_settings(engine: Engine, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": engine.url.render_as_string(hide_password=False), "public_url": "http://localhost:8080",
        "retry_backoff_seconds": 0, "secret_key": new_key(), "fusion_requests_per_minute": 100_000,
        "fusion_burst": 1000, "fusion_max_wait_seconds": 5, "delivery_retry_seconds": 30,
        "delivery_retry_max_seconds": 600, **overrides}
    return load_settings(**values)


def quickbooks() -> QuickBooksCompany:
    """A company with the customer, vendor and items the tests name (Widget is not in the simulated Fusion)."""
    company = QuickBooksCompany()
    company.add("Customer", Name="Cascade Robotics")
    company.add("Vendor", Name="Midwest Steel Service Center")
    for name in ("Gripper Frame GF-20", "Widget", "Hardware"):
        company.add("ItemNonInventory", Name=name)
    company.add("ItemNonInventory", Name="Bolt M8", ParentRef="Hardware")
    return company


@dataclass
class Rig(ThreeParts):
    sleep: RecordedSleep
    clients: list[FusionClient] = field(default_factory=list)

    def options(self, **retrieve: Any) -> None:
        with self.sessions.begin() as db:
            connections.get_connection(db, self.paired.name).options = {"retrieve": retrieve}

    def pull(self, *entities: str, max_returned: int = 100, expect: str = "done") -> None:
        """Queue a pull of each entity with the `enqueue pull` use case and let a Web Connector session run."""
        with self.sessions.begin() as db:
            for entity in entities:
                usecases.enqueue_pull(db, job_queue(self.server.clock), self.paired.name, entity,
                                      max_returned=max_returned)
        self.session(expect)

    def open_client(self, connection: str) -> FusionClient:
        return fusion_accounts.open_client(self.sessions, connection, self.server.settings, clock=self.server.clock,
                                           sleep=self.sleep)

    def worker(self, name: str | None = None) -> DeliveryWorker:
        return DeliveryWorker(self.sessions, self.server.settings, self.server.clock, open_client=self.open_client,
                              name=name)

    def deliver(self) -> Report:
        return self.worker().run_once()

    def deliveries(self) -> list[Delivery]:
        with self.sessions.begin() as db:
            found = list(db.scalars(select(Delivery).order_by(Delivery.id)))
            db.expunge_all()
            return found

    def orders(self, collection: str = "sales-orders") -> list[dict[str, Any]]:
        """The Fusion orders this connection made (the seed's are left out)."""
        return [o for o in self.sim.entities(collection) if "[qbd:" in str(o.get("notes"))]


@contextmanager
def rig(engine: Engine, sessions: sessionmaker[Session], **settings: Any) -> Iterator[Rig]:
    chosen = retrieve_settings(engine, **settings)
    servers = run_server(chosen, engine, sessions)
    server = next(servers)
    try:
        sim = SimulatedFusion(clock=server.clock, requests_per_minute=100_000)
        with serve_fusion(sim) as served:
            paired = pair(sessions)
            with sessions.begin() as db:
                fusion_accounts.configure(db, connections.get_connection(db, paired.name),
                                          fusion_accounts.FusionCredentials(served.base_url, token=SEED_TOKEN),
                                          SecretBox.from_settings(chosen, "tests"), server.clock)
            yield Rig(server, served, paired, quickbooks(), RecordedSleep(server.clock))
    finally:
        next(servers, None)
