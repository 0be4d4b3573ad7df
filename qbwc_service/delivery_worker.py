"""The delivery worker: takes the records pulled from QuickBooks (``qbwc_deliveries``) into Fusion Operations.

For each connection with a Fusion account, oldest first, one record at a time (claimed with a lease, see
deliveries.py): a record the mapping skips (mappings.retrieve.skip_reason) is ``skipped`` with the reason; else
the Fusion products it names are found, or created first (``retrieve.create_missing_products``; off: the record
``failed``, naming them); the Fusion order is created, its custom fields set, and the link kept
(``qbwc_links``, flow ``retrieve_<type>``: TxnID <-> Fusion id), so a document is imported once. A later
QuickBooks version of it changes nothing, or, with ``retrieve.update_open_orders``, updates the Fusion order
while that is still open.

**No second Fusion order.** The record notes that a create is starting (committed) before it is sent. When a
create's answer was lost (or the process stopped midway), the next try looks the order up by its code and the
document's marker (``[qbd:<Entity>:<TxnID>]`` in its notes) and links what it finds, instead of creating again.

Transient Fusion errors (down, 5xx, 429 beyond the client's own waits) put the record back ``pending`` with a
doubling wait (``delivery_retry_seconds`` ... ``delivery_retry_max_seconds``): nothing is lost. Fusion's refusals
(4xx) and documents that cannot be mapped are ``failed`` with the reason; ``deliveries retry`` sends them back.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from lxml import etree
from sqlalchemy.orm import Session, sessionmaker

from mappings.options import RetrieveOptions
from mappings.retrieve import (
    DOCUMENTS,
    FusionOrder,
    NotRetrievable,
    ProductNeed,
    build_order,
    has_marker,
    product_body,
    skip_reason,
)
from qbwc_service import deliveries, fusion_accounts, links
from qbwc_service.clock import Clock
from qbwc_service.db.enums import DeliveryStatus
from qbwc_service.db.models import Connection, Delivery
from qbwc_service.errors import InvalidJobPayload, QbwcError
from qbwc_service.fusion.client import FusionClient, Paths
from qbwc_service.fusion.errors import FusionBadAnswer, FusionRefused, FusionUnavailable
from qbwc_service.kinds.flows import options_of
from qbwc_service.processes import this_host
from qbwc_service.queue import RetryPolicy
from qbwc_service.settings import Settings

log = logging.getLogger(__name__)

ClientFactory = Callable[[str], FusionClient]  # the Fusion client of the connection named
BATCH = 20  # records claimed at a time


def flow_of(entity: str) -> str:
    """The link flow of a retrieved document: ``retrieve_sales_order``, ``retrieve_invoice``..."""
    return f"retrieve_{DOCUMENTS[entity].option}"


@dataclass
class Report:
    """What one run did, per outcome."""

    delivered: int = 0
    skipped: int = 0
    failed: int = 0
    postponed: int = 0
    lost: int = 0  # claims another worker took over meanwhile
    waiting: list[str] = field(default_factory=list)  # connections whose records wait (no account, no key)

    @property
    def handled(self) -> int:
        return self.delivered + self.skipped + self.failed + self.postponed

    def add(self, other: Report) -> None:
        self.delivered += other.delivered
        self.skipped += other.skipped
        self.failed += other.failed
        self.postponed += other.postponed
        self.lost += other.lost
        self.waiting += other.waiting


class ClaimLost(Exception):
    """The record's lease ran out and another worker took it: this one stops touching it."""


class _Failed(Exception):
    """The record cannot be delivered as it is; ``reason`` says why and what to do."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DeliveryWorker:
    """Delivers due records, in the calling thread; safe to run in several processes at once."""

    def __init__(self, sessions: sessionmaker[Session], settings: Settings, clock: Clock, *,
                 open_client: ClientFactory | None = None, name: str | None = None) -> None:
        self.sessions, self.settings, self.clock = sessions, settings, clock
        self.open_client = open_client or (
            lambda connection: fusion_accounts.open_client(sessions, connection, settings, clock=clock))
        self.name = name or f"{this_host()}:{secrets.token_hex(6)}"
        self.lease = timedelta(seconds=settings.delivery_lease_seconds)
        self.backoff = RetryPolicy(backoff_seconds=settings.delivery_retry_seconds,
                                   max_backoff=timedelta(seconds=settings.delivery_retry_max_seconds))
        """How long a record waits after a transient Fusion error: doubling, as a job's retries do."""

    def run_once(self, should_stop: Callable[[], bool] = lambda: False) -> Report:
        """Deliver everything due now, connection after connection, until none is due or ``should_stop``."""
        report = Report()
        with self.sessions.begin() as db:
            due = [(c.id, c.name) for c in (db.get(Connection, i) for i in deliveries.connections_due(
                db, self.clock.now())) if c is not None]
        for connection_id, name in due:
            if should_stop():
                break
            report.add(self.run_connection(connection_id, name, should_stop))
        return report

    def run_connection(self, connection_id: int, name: str, should_stop: Callable[[], bool]) -> Report:
        report = Report()
        try:
            client = self.open_client(name)
        except QbwcError as exc:  # no Fusion account, no secret key: the records wait, nothing is lost
            log.warning("records of connection %r wait: %s", name, exc, extra={"connection": name})
            report.waiting.append(name)
            return report
        with client:
            products: set[str] = set()
            while not should_stop():
                batch = self._claim(connection_id)
                if not batch:
                    break
                for job in batch:
                    if should_stop():
                        self._release(job.record)
                        continue
                    try:
                        self._deliver(job, client, products, report)
                    except ClaimLost:
                        report.lost += 1
                        log.info("delivery %d was taken over by another worker", job.record.id)
                    except Exception as exc:  # one record's bug must not hold up the others
                        log.exception("delivery %d failed unexpectedly", job.record.id)
                        self._unexpected(job.record, exc, report)
        return report

    def _claim(self, connection_id: int) -> list[_Job]:
        """A batch of due records, with what the worker needs to know of each (read with the claim)."""
        with self.sessions.begin() as db:
            claimed = deliveries.claim(db, connection_id, self.name, self.clock.now(), self.lease, BATCH)
            if not claimed:
                return []
            options = _retrieve_options(db.get(Connection, connection_id))
            ids = [d.qbd_id for d in claimed]
            found = links.find_many_by_qbd(db, connection_id, {flow_of(e) for e in DOCUMENTS}, ids)
            attempted = deliveries.create_attempted(db, connection_id, ids)
            batch = []
            for record in claimed:
                link = found.get((flow_of(record.entity), record.qbd_id))
                batch.append(_Job(record, options, link.fusion_id if link is not None else None,
                                  (record.entity, record.qbd_id) in attempted,
                                  link.edit_sequence if link is not None else None))
            db.expunge_all()
            return batch

    def _unexpected(self, record: Delivery, exc: Exception, report: Report) -> None:
        """A record whose delivery raised what nothing expected: failed, naming the error, for a person to see."""
        try:
            self._settle(record, deliveries.finished(
                DeliveryStatus.FAILED, f"unexpected {type(exc).__name__}: {exc}", self.clock.now()))
            report.failed += 1
        except Exception:  # the database too: the lease runs out and it is tried again
            log.exception("delivery %d could not be marked failed", record.id)

    def _release(self, record: Delivery) -> None:
        """A record claimed but not begun (the worker is stopping): pending again at once."""
        with self.sessions.begin() as db:
            deliveries.settle(db, record.id, self.name, status=DeliveryStatus.PENDING, lease_until=None,
                              attempts=record.attempts - 1)

    # ---------------------------------------------------------------- one record

    def _deliver(self, job: _Job, client: FusionClient, products: set[str], report: Report) -> None:
        record = job.record
        try:
            if isinstance(job.options, str):
                raise _Failed(job.options)
            ret = etree.fromstring(record.ret_xml.encode("utf-8"))
            reason = skip_reason(ret, job.options)
            if reason is not None:
                self._settle(record, deliveries.finished(DeliveryStatus.SKIPPED, reason, self.clock.now()))
                report.skipped += 1
                return
            try:
                order = build_order(ret, job.options)
            except NotRetrievable as exc:
                raise _Failed(str(exc)) from exc
            status = self._import(job, order, job.options, client, products)
            report.skipped += status is DeliveryStatus.SKIPPED
            report.delivered += status is DeliveryStatus.DELIVERED
        except _Failed as exc:
            self._settle(record, deliveries.finished(DeliveryStatus.FAILED, exc.reason, self.clock.now()))
            report.failed += 1
            log.warning("delivery %d failed: %s", record.id, exc.reason)
        except FusionUnavailable as exc:
            wait = self.backoff.delay(record.attempts).total_seconds()
            retry_after = getattr(exc, "retry_after", None)
            if retry_after:
                wait = max(wait, float(retry_after))
            self._settle(record, deliveries.postponed(str(exc), self.clock.now() + timedelta(seconds=wait)))
            report.postponed += 1
            log.info("delivery %d waits %g s: %s", record.id, wait, exc)
        except (FusionRefused, FusionBadAnswer) as exc:
            self._settle(record, deliveries.finished(DeliveryStatus.FAILED, str(exc), self.clock.now()))
            report.failed += 1
            log.warning("delivery %d failed: %s", record.id, exc)

    def _import(self, job: _Job, order: FusionOrder, options: RetrieveOptions, client: FusionClient,
                products: set[str]) -> DeliveryStatus:
        """Create, find, or update the Fusion order, and settle the record; its status."""
        record = job.record
        what = DOCUMENTS[order.entity].label
        target = "Fusion sales order" if order.collection == Paths.SALES_ORDERS else "Fusion purchase order"
        fusion_id = job.linked
        if fusion_id is not None and fusion_id != record.fusion_id:
            if _not_newer(record.edit_sequence, job.linked_version):  # retried after a newer version went
                self._settle(record, deliveries.finished(DeliveryStatus.SKIPPED, (
                    f"{target} {fusion_id} holds a newer QuickBooks version of this {what}"), self.clock.now()))
                return DeliveryStatus.SKIPPED
            return self._later_version(record, order, options, client, products, fusion_id, target)
        if fusion_id is None and job.attempted:
            fusion_id = self._find_lost_create(order, client, target)
            if fusion_id is not None:
                self._linked(record, order, fusion_id)
        if fusion_id is None:
            self._products(order.products, options, client, products)
            self._settle(record, {"create_started_at": self.clock.now(), "fusion_collection": order.collection,
                                  "fusion_payload": order.body})
            created = client.create_sales_order(order.body) if order.collection == Paths.SALES_ORDERS \
                else client.create_purchase_order(order.body)
            fusion_id = str(created.id)
            if not order.custom_fields:  # the link and the end in one transaction
                self._linked(record, order, fusion_id, self._imported(what, target, order, fusion_id))
                return DeliveryStatus.DELIVERED
            self._linked(record, order, fusion_id)
        self._custom_fields(order, fusion_id, client)
        self._settle(record, self._imported(what, target, order, fusion_id))
        return DeliveryStatus.DELIVERED

    def _imported(self, what: str, target: str, order: FusionOrder, fusion_id: str) -> dict[str, Any]:
        """A record's end once its document is in Fusion as ``fusion_id``."""
        return deliveries.finished(DeliveryStatus.DELIVERED, f"{what} imported as {target} {order.code} "
                                   f"(id {fusion_id})", self.clock.now())

    def _later_version(self, record: Delivery, order: FusionOrder, options: RetrieveOptions, client: FusionClient,
                       products: set[str], fusion_id: str, target: str) -> DeliveryStatus:
        """A QuickBooks version of a document imported already: nothing, or an update of the open order."""
        if not options.update_open_orders:
            self._settle(record, deliveries.finished(DeliveryStatus.SKIPPED, (
                f"already imported as {target} {fusion_id}; later QuickBooks edits are not brought over "
                "(retrieve.update_open_orders is off)"), self.clock.now()))
            return DeliveryStatus.SKIPPED
        current = client.get(order.collection, fusion_id)
        status = str(current.get("status") or "OPEN").upper()
        if status != "OPEN":
            self._settle(record, deliveries.finished(DeliveryStatus.SKIPPED, (
                f"{target} {fusion_id} is {status.lower()}: an order that is not open is not updated"),
                self.clock.now()))
            return DeliveryStatus.SKIPPED
        self._products(order.products, options, client, products)
        self._settle(record, {"fusion_collection": order.collection, "fusion_payload": order.update})
        client.update(order.collection, fusion_id, order.update)
        self._custom_fields(order, fusion_id, client)
        self._linked(record, order, fusion_id, deliveries.finished(
            DeliveryStatus.DELIVERED, f"updated {target} {order.code} (id {fusion_id})", self.clock.now()))
        return DeliveryStatus.DELIVERED

    def _find_lost_create(self, order: FusionOrder, client: FusionClient, target: str) -> str | None:
        """The order an earlier create made, when its answer was lost: same code, and the document's marker."""
        found = client.find_by_code(order.collection, order.code)
        ours = [e for e in found if has_marker(e.get("notes"), order.entity, order.txn_id)]
        if ours:
            log.info("a lost create of %s %s is found in Fusion (id %s): linked, not created again",
                     order.entity, order.txn_id, ours[0].get("id"))
            return str(ours[0]["id"])
        if found:
            raise _Failed(f"{target} {order.code} (id {found[0].get('id')}) exists and was not imported from this "
                          f"document (its notes lack {order.marker}); rename one of them, then retry")
        return None

    def _products(self, needs: tuple[ProductNeed, ...], options: RetrieveOptions, client: FusionClient,
                  known: set[str]) -> None:
        """Every product the order names exists in Fusion afterwards, or the record fails naming the missing."""
        missing = [need for need in needs if need.code not in known and not client.find_by_code(Paths.PRODUCTS,
                                                                                                 need.code)]
        known.update(need.code for need in needs if need not in missing)
        if missing and not options.create_missing_products:
            names = ", ".join(repr(need.code) for need in missing)
            raise _Failed(f"Fusion has no product {names} (retrieve.create_missing_products is off): create "
                          f"{'it' if len(missing) == 1 else 'them'} in Fusion or turn the option on, then retry")
        for need in missing:
            try:
                client.create_product(product_body(need))
            except FusionRefused:
                if not client.find_by_code(Paths.PRODUCTS, need.code):  # made meanwhile by another worker: fine
                    raise
            known.add(need.code)

    def _custom_fields(self, order: FusionOrder, fusion_id: str, client: FusionClient) -> None:
        if order.custom_fields:
            client.set_custom_fields(order.collection, fusion_id, order.custom_fields)

    def _linked(self, record: Delivery, order: FusionOrder, fusion_id: str,
                values: dict[str, Any] | None = None) -> None:
        """Keep the link and the record's Fusion id (and ``values``) together, in one transaction, while the claim
        holds."""
        with self.sessions.begin() as db:
            written = {"fusion_id": fusion_id, "fusion_collection": order.collection,
                       "lease_until": self._lease_end(), **(values or {})}
            if not deliveries.settle(db, record.id, self.name, **written):
                raise ClaimLost()
            links.record(db, record.connection_id, flow_of(order.entity), fusion_id, qbd_type=order.entity,
                         qbd_id=order.txn_id, ref_number=order.code, edit_sequence=record.edit_sequence,
                         now=self.clock.now())
        record.fusion_id = fusion_id

    def _settle(self, record: Delivery, values: dict[str, Any]) -> None:
        with self.sessions.begin() as db:
            if not deliveries.settle(db, record.id, self.name, **{"lease_until": self._lease_end(), **values}):
                raise ClaimLost()

    def _lease_end(self) -> Any:
        """Each step renews the claim: a record is never taken over while its worker is busy with it."""
        return self.clock.now() + self.lease


@dataclass
class _Job:
    """A claimed record, with what was read with the claim: the connection's retrieve options (or why they cannot
    be read), the Fusion id of the order the document became already, and whether a create may have been sent."""

    record: Delivery
    options: RetrieveOptions | str
    linked: str | None
    attempted: bool
    linked_version: str | None = None  # the QuickBooks EditSequence the Fusion order holds


def _not_newer(version: str, than: str | None) -> bool:
    """Whether EditSequence ``version`` is not newer than ``than`` (QuickBooks' are growing numbers)."""
    if than is None:
        return False
    if version.isdigit() and than.isdigit():
        return int(version) <= int(than)
    return (len(version), version) <= (len(than), than)


def _retrieve_options(connection: Connection | None) -> RetrieveOptions | str:
    """The connection's retrieve options, or why they cannot be read (the record then fails saying so)."""
    if connection is None:
        return "the connection is gone"
    try:
        return options_of(connection).retrieve
    except InvalidJobPayload as exc:
        return f"{exc}, then retry"
