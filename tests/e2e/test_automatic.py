"""The automatic mode end to end over HTTP, with the three simulated parts: the Fusion API (served), a running
service, and the Web Connector with its QuickBooks company. The automatic retrieve and its window; the poller and
the webhook sending a new shipment once; webhooks refused; sends by Fusion id; sales orders closed when shipped."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from qbwc_service import automation, connection_usecases, deliveries
from qbwc_service.clock import FakeClock
from qbwc_service.db.models import Job, WebhookEvent
from qbwc_service.fusion_accounts import FusionCredentials
from qbwc_service.poller import PollReport, run_once
from qbwc_service.secretbox import new_key
from qbwc_service.settings import Settings, load_settings
from qbwc_service.simulate.demo import pair_with_fusion, run_demo, served_fusion
from qbwc_service.simulate.fusion import SimulatedFusion
from qbwc_service.simulate.quickbooks import QuickBooksCompany
from qbwc_service.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from tests.conftest import free_port, run_server
from tests.fusion_support import SEED_TOKEN, ThreeParts, serve_fusion
from tests.support import job_queue, jobs, pair, snapshot

START = datetime(2026, 12, 2, 3, 0)  # 22:00 the day before in New York: after every entity of the seed
SECRET = "a-shared-secret-of-this-connection"
WEBHOOK = "/api/v1/webhooks/fusion"


@dataclass
class World(ThreeParts):
    clock: FakeClock
    api_key: str

    def options(self, **values: Any) -> None:
        with self.sessions.begin() as db:
            connection_usecases.update_options(db, self.paired.name, set_values=list(values.items()))

    def poll(self) -> PollReport:
        return run_once(self.sessions, self.server.settings, job_queue(self.clock), self.clock)

    def webhook(self, body: dict[str, Any], *, secret: str = SECRET, at: datetime | None = None,
                connection: str | None = None, account: str | None = None) -> httpx.Response:
        raw = json.dumps(body).encode()
        stamp = str(int(((at or self.clock.now()) - datetime(1970, 1, 1)).total_seconds()))
        named = {"account": account} if account else {"connection": connection or self.paired.name}
        return httpx.post(f"{self.server.url}{WEBHOOK}", params=named,
                          content=raw, headers={TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: sign(secret, stamp, raw),
                                                "Content-Type": "application/json"})

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(method, f"{self.server.url}/api/v1{path}",
                             headers={"Authorization": f"Bearer {self.api_key}"}, **kwargs)

    def add_order(self, order_id: int, lines: list[tuple[int, int]], status: str = "OPEN") -> dict[str, Any]:
        """A new sales order in Fusion, like the seed's, with lines (line id, quantity)."""
        order = copy.deepcopy(self.sim.entities("sales-orders")[0])
        for stamp in ("createdAt", "updatedAt"):
            order.pop(stamp)
        template = order["products"]
        order.update(id=order_id, code=f"SO-{order_id}", status=status,
                     products=[{**template[index % len(template)], "id": line, "quantity": quantity}
                               for index, (line, quantity) in enumerate(lines)])
        return self.sim.add("sales-orders", order)

    def ship(self, shipment_id: int, order_id: int, lines: list[tuple[int, int]]) -> dict[str, Any]:
        order = self.sim.account.find("sales-orders", str(order_id))
        assert order is not None
        products = {line["id"]: line["product"] for line in order["products"]}
        return self.sim.add("shippings", {
            "id": shipment_id, "code": f"SHP-{shipment_id}", "shippedAt": self.clock.now().isoformat() + "Z",
            "salesOrder": {"id": order_id, "code": order["code"]},
            "lines": [{"id": index + 1, "orderLineId": line, "product": products[line], "quantity": quantity}
                      for index, (line, quantity) in enumerate(lines)]})

    def patch_order(self, order_id: int, **changes: Any) -> None:
        assert self.sim.account.patch("sales-orders", str(order_id), changes, self.clock.now()) is not None


@contextmanager
def world_of(settings: Settings, engine: Engine, sessions: sessionmaker[Session]) -> Iterator[World]:
    clock = FakeClock(START)
    keyed = settings.model_copy(update={"secret_key": load_settings(secret_key=new_key()).secret_key,
                                        "fusion_burst": 10_000, "fusion_requests_per_minute": 100_000})
    with serve_fusion(SimulatedFusion(clock=clock, requests_per_minute=100_000)) as fusion, \
            contextmanager(run_server)(keyed, engine, sessions, clock) as server:
        paired = pair(sessions)
        with sessions.begin() as db:
            connection_usecases.configure_fusion(db, paired.name, FusionCredentials(fusion.base_url, token=SEED_TOKEN),
                                                 keyed, clock)
            automation.set_webhook_secret(db, paired.name, keyed, SECRET, clock)
            api_key = connection_usecases.create_api_key(db, "ops", clock=clock).key
        yield World(server, fusion, paired, QuickBooksCompany.from_seed(), clock, api_key)


@pytest.fixture
def world(settings: Settings, engine: Engine, sessions: sessionmaker[Session]) -> Iterator[World]:
    with world_of(settings, engine, sessions) as made:
        yield made


def kinds(world: World) -> list[str]:
    return [job.kind for job in jobs(world.sessions)]


# ---------------------------------------------------------------- the automatic retrieve


def test_an_automatic_retrieve_waits_for_its_window_then_retrieves(world: World) -> None:
    world.options(**{"time_zone": "America/New_York", "retrieve.automatic": True, "retrieve.window_start": "08:00",
                     "retrieve.window_end": "17:00", "retrieve.types": ["sales_order", "purchase_order"],
                     "retrieve.interval_minutes": 30})
    world.session(expect="nothing-to-do")  # 22:00 in New York: outside the window
    assert kinds(world) == []

    world.clock.advance(hours=11)  # 09:00 in New York
    world.session()
    pulls = jobs(world.sessions)
    assert sorted(job.payload["entity"] for job in pulls) == ["PurchaseOrder", "SalesOrder"]
    assert all(job.status == "done" for job in pulls), [job.status_message for job in pulls]
    with world.sessions.begin() as db:
        assert deliveries.count(db, world.paired.id, "SalesOrder") == world.company.count("SalesOrder") > 0
        assert deliveries.count(db, world.paired.id, "PurchaseOrder") == world.company.count("PurchaseOrder") > 0
        assert deliveries.count(db, world.paired.id, "Invoice") == 0  # not asked for

    world.clock.advance(minutes=10)  # within the interval: nothing more
    world.session(expect="nothing-to-do")
    world.clock.advance(minutes=20)  # 30 minutes after the last: due again, from the high-water marks
    world.session()
    assert len(jobs(world.sessions)) == 4


# ---------------------------------------------------------------- the poller and the webhook


def test_a_new_shipment_is_invoiced_once_by_the_poller_and_the_webhook(world: World) -> None:
    world.options(**{"sales_orders.automatic": True, "shipments.automatic": True})
    assert world.poll().queued == 0  # the first poll starts from now: the seed's documents are older
    world.clock.advance(minutes=1)
    world.add_order(5002, [(1, 2), (2, 5)])
    world.ship(8002, 5002, [(1, 2), (2, 5)])
    first = world.poll()
    assert (first.queued, first.errors) == (2, [])
    assert sorted(kinds(world)) == ["sales_order", "shipment"]
    world.session()
    assert all(job.status == "done" for job in jobs(world.sessions)), [j.status_message for j in jobs(world.sessions)]
    invoices = world.company.count("Invoice")
    assert invoices == 1 and world.company.find_all("Invoice")[0].text("CustomerRef/FullName") == "Cascade Robotics"

    again = world.poll()  # within the overlap: met again, recognised
    assert again.queued == 0 and again.recognised == 2
    answer = world.webhook({"id": "evt-1", "entity": {"type": "shippings", "id": 8002}})
    assert answer.status_code == 202, answer.text
    assert [job["created"] for job in answer.json()["jobs"]] == [False]
    world.clock.advance(minutes=2)
    world.session(expect="nothing-to-do")
    assert world.company.count("Invoice") == invoices and len(jobs(world.sessions)) == 2


@pytest.mark.each_database  # the event ids' insert-or-nothing differs between engines
def test_a_webhook_takes_a_new_entity_and_refuses_replays_and_bad_signatures(world: World) -> None:
    world.options(**{"sales_orders.automatic": True})
    world.add_order(5003, [(1, 1)])
    before = snapshot(world.sessions)

    for refused, reason in (
        (world.webhook({"id": "evt-9", "entity": {"type": "sales-orders", "id": 5003}}, secret="not-the-secret-at-all"),
         "signature"),
        (world.webhook({"id": "evt-9", "entity": {"type": "sales-orders", "id": 5003}}, connection="Nobody"),
         "signature"),
        (world.webhook({"id": "evt-9", "entity": {"type": "sales-orders", "id": 5003}},
                       at=world.clock.now() - timedelta(minutes=10)), "stale"),
    ):
        assert refused.status_code == 401, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["reason"] == reason
    huge = httpx.post(f"{world.server.url}{WEBHOOK}", content=b"x" * (world.server.settings.api_max_body_bytes + 1))
    assert huge.status_code == 413
    assert snapshot(world.sessions) == before  # no job, no event, no row

    taken = world.webhook({"id": "evt-9", "entity": {"type": "sales-orders", "id": 5003}})
    assert taken.status_code == 202, taken.text
    assert [job["kind"] for job in taken.json()["jobs"]] == ["sales_order"]
    replayed = world.webhook({"id": "evt-9", "entity": {"type": "sales-orders", "id": 5003}})
    assert replayed.status_code == 409 and replayed.json()["reason"] == "replayed"
    with world.sessions.begin() as db:
        assert db.scalar(select(func.count()).select_from(WebhookEvent)) == 1
        assert db.scalar(select(func.count()).select_from(Job)) == 1

    # Named by the Fusion account (known once a test named it) instead of the connection.
    assert connection_usecases.test_fusion(world.sessions, world.paired.name, world.server.settings, world.clock).ok
    by_account = world.webhook({"id": "evt-10", "entity": {"type": "sales_order", "id": 5003}}, account="1001")
    assert by_account.status_code == 202, by_account.text
    assert by_account.json()["connection"] == world.paired.name
    assert [job["created"] for job in by_account.json()["jobs"]] == [False]


def test_an_address_that_keeps_sending_bad_webhooks_is_locked_out_and_stops_reaching_the_log(
        settings: Settings, engine: Engine, sessions: sessionmaker[Session], caplog: pytest.LogCaptureFixture) -> None:
    """A flood of unsigned webhooks costs one bounded row per address: after auth_failures_per_address refusals the
    address gets 429 without a signature check or a log line, a good webhook included, until the lockout ends."""
    strict = settings.model_copy(update={"auth_failures_per_address": 3, "auth_lockout_seconds": 600})
    with world_of(strict, engine, sessions) as world:
        world.options(**{"sales_orders.automatic": True})
        world.add_order(5003, [(1, 1)])
        event = {"id": "evt-1", "entity": {"type": "sales-orders", "id": 5003}}
        with caplog.at_level("WARNING", logger="qbwc_service.webhooks"):
            statuses = [world.webhook(event, secret="not-the-secret-at-all").status_code for _ in range(3)]
            assert statuses == [401, 401, 401]
            logged = len(caplog.records)
            locked = [world.webhook(event, secret="not-the-secret-at-all") for _ in range(20)]
            assert {answer.status_code for answer in locked} == {429}
            assert locked[0].json()["reason"] == "locked"
            assert len(caplog.records) == logged  # the lockout is quiet
        assert world.webhook(event).status_code == 429  # the right secret too, from a locked address
        assert kinds(world) == []
        world.clock.advance(seconds=601)
        taken = world.webhook(event)
        assert taken.status_code == 202, taken.text
        assert kinds(world) == ["sales_order"]


# ---------------------------------------------------------------- by Fusion id


def test_enqueue_by_fusion_id_sends_what_fusion_holds(world: World) -> None:
    world.patch_order(5001, notes="Changed in Fusion", products=[
        {**line, "quantity": 7} for line in world.sim.account.find("sales-orders", "5001")["products"]])  # type: ignore[index]
    answer = world.api("POST", f"/connections/{world.paired.name}/flows/sales_order", json={"fusion_id": 5001})
    assert answer.status_code == 201, answer.text
    again = world.api("POST", f"/connections/{world.paired.name}/flows/sales_order", json={"fusion_id": "5001"})
    assert again.status_code == 200 and again.json()[0]["created"] is False
    missing = world.api("POST", f"/connections/{world.paired.name}/flows/sales_order", json={"fusion_id": 999})
    assert missing.status_code == 422 and missing.json()["type"].endswith("fusion-not-found")
    world.session()
    (order,) = world.company.find_all("SalesOrder", CustomerRef__FullName="Cascade Robotics")
    assert [line.findtext("Quantity") for line in order.element.findall("SalesOrderLineRet")] == ["7", "7"]


# ---------------------------------------------------------------- closing orders


def test_a_sales_order_closed_by_its_shipment_closes_its_open_lines_only(world: World) -> None:
    world.options(**{"sales_orders.automatic": True, "shipments.automatic": True, "partial_invoicing": True,
                     "close_sales_order_when_shipped": True})
    world.poll()
    world.clock.advance(minutes=1)
    world.add_order(5004, [(1, 2), (2, 5)])
    world.poll()
    world.session()
    world.clock.advance(minutes=1)
    world.ship(8004, 5004, [(1, 2)])  # the first line whole; the second not at all
    world.patch_order(5004, status="CLOSED")
    assert world.poll().errors == []
    assert sorted(kinds(world)) == ["sales_order", "sales_order_close", "shipment"]
    world.session()
    done = {job.kind: job for job in jobs(world.sessions)}
    assert done["sales_order_close"].status == "done", done["sales_order_close"].status_message
    assert done["sales_order_close"].result["lines_changed"] == 1
    order = world.company.find("SalesOrder", TxnID=done["sales_order"].result["TxnID"])
    assert order is not None
    lines = {line.findtext("Quantity"): line for line in order.element.findall("SalesOrderLineRet")}
    assert lines["2"].findtext("Invoiced") == "2" and lines["2"].findtext("IsManuallyClosed") == "false"
    assert lines["5"].findtext("IsManuallyClosed") == "true"

    reopened = world.api("POST", f"/connections/{world.paired.name}/orders/5004/reopen")
    assert reopened.status_code == 201, reopened.text
    world.session()
    order = world.company.find("SalesOrder", TxnID=done["sales_order"].result["TxnID"])
    assert order is not None
    assert [line.findtext("IsManuallyClosed") for line in order.element.findall("SalesOrderLineRet")] == \
        ["false", "false"]
    never_sent = world.api("POST", f"/connections/{world.paired.name}/orders/777/close")
    assert never_sent.status_code == 422 and never_sent.json()["reason"] == "not-in-quickbooks"


# ---------------------------------------------------------------- the demo


def test_the_demo_shows_orders_flow(settings: Settings, engine: Engine, sessions: sessionmaker[Session]) -> None:
    keyed = settings.model_copy(update={"secret_key": load_settings(secret_key=new_key()).secret_key})
    sim = SimulatedFusion()
    lines: list[str] = []
    with contextmanager(run_server)(keyed, engine, sessions) as server, \
            served_fusion(sim, "127.0.0.1", free_port()) as base_url:
        paired = pair_with_fusion(sessions, keyed, "demo", base_url, SEED_TOKEN)
        assert run_demo(sessions, keyed, server.soap_url, paired, sim, lines.append)
    assert lines[0].endswith("polled: 1 jobs queued") and lines[3].endswith("polled: 2 jobs queued"), lines
    assert lines[-1].endswith("sales orders (1 lines closed) and 1 invoices"), lines


def test_stock_sent_through_the_api_is_read_from_fusion_when_no_levels_are_given(world: World) -> None:
    world.options(stock_sync=True, stock_adjustment_account="Inventory Adjustment")
    products = len(world.sim.entities("products"))
    sent = world.api("POST", f"/connections/{world.paired.name}/stock/send-all", json={})
    assert sent.status_code == 201, sent.text
    assert len(sent.json()["queued"]) == products
    one = world.api("POST", f"/connections/{world.paired.name}/stock/send", json={"product": "Gripper Frame GF-20"})
    assert one.status_code == 200 and one.json()["created"] is False  # the same level: already queued
    missing = world.api("POST", f"/connections/{world.paired.name}/stock/send", json={"product": "Nope"})
    assert missing.status_code == 422, missing.text
    world.session()
    with world.sessions() as db:
        settled = [(job.status, job.status_message or "") for job in db.scalars(select(Job).where(Job.kind == "stock"))]
    done = [status for status, _message in settled if status == "done"]
    (refused,) = [message for status, message in settled if status == "dead"]  # the seed's product QuickBooks lacks
    assert "no Item named 'Prototype X'" in refused
    assert len(world.company.find_all("InventoryAdjustment")) == len(done) == products - 1
