"""The three simulated parts together against a running service, so a user sees orders flow (test doubles all:
no Fusion, QuickBooks or Web Connector is involved).

The simulated Fusion Operations API is served on loopback; a connection of the service's database is paired with
it (a new token: the Web Connector below uses it) with its send flows automatic and
``close_sales_order_when_shipped`` on. Each round, something happens in Fusion (a new sales order; then its
shipment, which closes it), Fusion is polled (as `serve` does every ``fusion_poll_seconds``), and the simulated
Web Connector runs one session with its QuickBooks company against the service: what each step did is told.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import uvicorn
from sqlalchemy.orm import Session, sessionmaker

from qbwc_service import connection_usecases, connections
from qbwc_service.clock import SYSTEM_CLOCK
from qbwc_service.errors import ConnectionNotFound
from qbwc_service.fusion_accounts import FusionCredentials
from qbwc_service.poller import run_once
from qbwc_service.queue import JobQueue
from qbwc_service.settings import Settings
from qbwc_service.simulate._fusion_store import COLLECTIONS, iso
from qbwc_service.simulate.fusion import API_PREFIX, SimulatedFusion
from qbwc_service.simulate.quickbooks import QuickBooksCompany
from qbwc_service.simulate.webconnector import WebConnectorClient

AUTOMATIC = ("sales_orders.automatic", "shipments.automatic", "purchase_orders.automatic", "receivings.automatic")


@dataclass(frozen=True)
class Paired:
    name: str
    username: str
    token: str


@contextmanager
def served_fusion(sim: SimulatedFusion, host: str, port: int,
                  stopped: Callable[[threading.Thread], None] | None = None) -> Iterator[str]:
    """``sim`` served on host:port in a thread until the block ends; yields its API's base URL. On the way out the
    server is told to stop and its thread is waited for, or handed to ``stopped`` (the tests wait for all at once)."""
    server = uvicorn.Server(uvicorn.Config(sim.app, host=host, port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, name="simulated-fusion", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"the simulated Fusion API did not start on {host}:{port}")
        time.sleep(0.05)
    try:
        yield f"http://{host}:{port}{API_PREFIX}"
    finally:
        server.should_exit = True
        if stopped is None:
            thread.join(5)
        else:
            stopped(thread)


def pair_with_fusion(sessions: sessionmaker[Session], settings: Settings, name: str, base_url: str,
                     token: str) -> Paired:
    """The connection ``name`` (made, or given a new token), its Fusion account the simulated one, its flows
    automatic."""
    with sessions.begin() as db:
        try:
            connections.get_connection(db, name)
            made = connection_usecases.rotate_token(db, name)
            username, secret = made.connection.username, made.token
        except ConnectionNotFound:
            new = connection_usecases.create_connection(db, name)
            username, secret = new.connection.username, new.token
        connection_usecases.configure_fusion(db, name, FusionCredentials(base_url, token=token), settings)
        connection_usecases.update_options(db, name, set_values=[*((key, True) for key in AUTOMATIC),
                                                      ("close_sales_order_when_shipped", True),
                                                      ("partial_invoicing", True)])
    return Paired(name, username, secret)


def run_demo(sessions: sessionmaker[Session], settings: Settings, soap_url: str, paired: Paired,
             sim: SimulatedFusion, say: Callable[[str], None], *, rounds: int = 2) -> bool:
    """The rounds; False when a Web Connector session failed. Each run's orders have ids of their own (from the
    time), so a second run is not taken for the first one's orders again."""
    order_id = int(time.time()) // 10 * 10
    company = QuickBooksCompany.from_seed()
    job_queue = JobQueue.for_settings(settings, SYSTEM_CLOCK)
    an_hour_ago = iso(sim.clock.now() - timedelta(hours=1))
    for collection in COLLECTIONS:  # the seed's documents are older than the demo: only what happens now is sent
        for entity in sim.entities(collection):
            entity["createdAt"] = entity["updatedAt"] = an_hour_ago
    poll = run_once(sessions, settings, job_queue, SYSTEM_CLOCK, only=paired.name)  # the cursors start now
    ok = not poll.errors
    for number in range(rounds):
        time.sleep(1.1)  # Fusion stamps to the second: what happens next is after the cursor
        said = _happen(sim, number, order_id + number // 2)
        poll = run_once(sessions, settings, job_queue, SYSTEM_CLOCK, only=paired.name)
        say(f"round {number + 1}: in Fusion, {said}; polled: {poll.queued} jobs queued"
            + (f", errors: {'; '.join(poll.errors)}" if poll.errors else ""))
        report = WebConnectorClient(soap_url, paired.username, paired.token, company).run_session()
        say(f"  Web Connector session: {report.outcome}, {report.message_sets} message sets"
            + (f", last error: {report.last_error}" if report.last_error else ""))
        ok = ok and not poll.errors and report.outcome in ("done", "nothing-to-do")
        say(f"  QuickBooks now holds {company.count('SalesOrder')} sales orders "
            f"({_closed_lines(company)} lines closed) and {company.count('Invoice')} invoices")
    return ok


def _happen(sim: SimulatedFusion, number: int, order_id: int) -> str:
    if number % 2 == 0:
        order = copy.deepcopy(sim.entities("sales-orders")[0])
        for stamp in ("createdAt", "updatedAt"):
            order.pop(stamp, None)
        order.update(id=order_id, code=f"SO-{order_id}", status="OPEN")
        sim.add("sales-orders", order)
        return f"a new sales order SO-{order_id}"
    found = sim.account.find("sales-orders", str(order_id))
    assert found is not None
    first = found["products"][0]
    sim.add("shippings", {"id": order_id + 1, "code": f"SHP-{order_id + 1}",
                          "salesOrder": {"id": order_id, "code": found["code"]},
                          "lines": [{"id": 1, "orderLineId": first["id"], "product": first["product"],
                                     "quantity": first["quantity"]}]})
    sim.account.patch("sales-orders", str(order_id), {"status": "CLOSED"}, sim.clock.now())
    return f"SO-{order_id} shipped (its first line) and closed"


def _closed_lines(company: QuickBooksCompany) -> int:
    lines: list[Any] = [line for order in company.find_all("SalesOrder")
                        for line in order.element.findall("SalesOrderLineRet")]
    return sum(line.findtext("IsManuallyClosed") == "true" for line in lines)
