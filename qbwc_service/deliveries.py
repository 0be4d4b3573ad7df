"""Records pulled from QuickBooks (the outbox towards Fusion) and each stream's high-water mark.

This module is the only writer of ``qbwc_deliveries`` and ``qbwc_sync_state``. A record is stored once
per QuickBooks version of it (its id and EditSequence): reading it again adds nothing.

The delivery worker (delivery_worker.py) claims due records a few at a time (:func:`claim`: oldest first,
``FOR UPDATE SKIP LOCKED`` on PostgreSQL, a lease that another worker may take over once it runs out), and
each later step is written only while its claim holds (:func:`settle`, which renews the lease). A QuickBooks
document's versions go in order: a version waits while an older one of the same document is unfinished.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from lxml import etree
from sqlalchemy import and_, bindparam, delete, exists, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased

from mappings.retrieve import DOCUMENTS as RETRIEVED
from qbwc_service.db.enums import DeliveryStatus
from qbwc_service.db.models import Delivery, FusionAccount, SyncState

DOCUMENTS = tuple(RETRIEVED)  # what the delivery worker takes to Fusion: the documents mappings.retrieve maps
UNFINISHED = (DeliveryStatus.PENDING, DeliveryStatus.DELIVERING)
RETRYABLE = (DeliveryStatus.FAILED, DeliveryStatus.SKIPPED)


@dataclass(frozen=True)
class PulledRecord:
    entity: str
    qbd_id: str
    edit_sequence: str
    time_modified: str | None
    xml: str


def record_from(ret: etree._Element) -> PulledRecord | None:
    """The identity of one ``*Ret``; None for an element without an id (nothing to deliver)."""
    entity = ret.tag[:-3] if isinstance(ret.tag, str) and ret.tag.endswith("Ret") else str(ret.tag)
    qbd_id = ret.findtext("TxnID") or ret.findtext("ListID")
    if not qbd_id:
        return None
    return PulledRecord(
        entity=entity,
        qbd_id=qbd_id,
        edit_sequence=ret.findtext("EditSequence") or "",
        time_modified=ret.findtext("TimeModified"),
        xml=etree.tostring(ret, encoding="unicode"),
    )


NOT_A_DOCUMENT = ("kept here, not delivered: only sales orders, purchase orders, invoices and estimates are "
                  "taken into Fusion")


def store(db: Session, connection_id: int, job_id: int | None, records: Iterable[PulledRecord], now: datetime) -> int:
    """Insert the records not seen before; returns how many were new. A record the delivery worker does not take
    (a customer, an item) is stored as skipped, saying so, so that pending means on its way to Fusion."""
    rows: list[dict[str, Any]] = [
        {
            "connection_id": connection_id, "job_id": job_id, "entity": r.entity, "qbd_id": r.qbd_id,
            "edit_sequence": r.edit_sequence, "time_modified": r.time_modified, "ret_xml": r.xml,
            "status": DeliveryStatus.PENDING if r.entity in DOCUMENTS else DeliveryStatus.SKIPPED,
            "outcome": None if r.entity in DOCUMENTS else NOT_A_DOCUMENT, "attempts": 0, "created_at": now,
        }
        for r in records
    ]
    if not rows:
        return 0
    dialect = db.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(Delivery).on_conflict_do_nothing(
        index_elements=["connection_id", "entity", "qbd_id", "edit_sequence"]
    )
    result = db.execute(stmt.returning(Delivery.id), rows)
    return len(result.all())


def count(db: Session, connection_id: int, entity: str | None = None) -> int:
    stmt = select(func.count()).select_from(Delivery).where(Delivery.connection_id == connection_id)
    if entity is not None:
        stmt = stmt.where(Delivery.entity == entity)
    return db.scalar(stmt) or 0


def high_water(db: Session, connection_id: int, stream: str) -> str | None:
    state = db.scalar(select(SyncState).where(SyncState.connection_id == connection_id,
                                              SyncState.stream == stream))
    return state.high_water if state else None


def advance(db: Session, connection_id: int, stream: str, mark: str | None, now: datetime) -> None:
    """Record a completed pull: the mark only moves forward."""
    state = db.scalar(select(SyncState).where(SyncState.connection_id == connection_id,
                                              SyncState.stream == stream))
    if state is None:
        state = SyncState(connection_id=connection_id, stream=stream)
        db.add(state)
    if mark is not None and (state.high_water is None or mark[:19] > state.high_water[:19]):
        state.high_water = mark
    state.last_run_at = now


def forget_jobs(db: Session, job_ids: list[int]) -> None:
    """The pulls that stored these records are being deleted (retention.py): the records stay, naming no job."""
    if job_ids:
        db.execute(update(Delivery).where(Delivery.job_id.in_(job_ids)).values(job_id=None)
                   .execution_options(synchronize_session=False))


def forget_all(db: Session, connection_id: int) -> None:
    """Drop a connection's pulled records and stream marks (the connection is being deleted)."""
    db.execute(delete(Delivery).where(Delivery.connection_id == connection_id))
    db.execute(delete(SyncState).where(SyncState.connection_id == connection_id))


# ---------------------------------------------------------------- the delivery worker's claims

_older = aliased(Delivery)
# No older version of the same document is unfinished (ix_qbwc_deliveries_document serves it).
_FIRST_OF_DOCUMENT = ~exists().where(_older.connection_id == Delivery.connection_id,
                                     _older.qbd_id == Delivery.qbd_id, _older.entity == Delivery.entity,
                                     _older.id < Delivery.id, _older.status.in_(UNFINISHED))
_WAITING = and_(Delivery.status == DeliveryStatus.PENDING,
                or_(Delivery.not_before.is_(None), Delivery.not_before <= bindparam("due_now")))
_LEASE_OVER = and_(Delivery.status == DeliveryStatus.DELIVERING, Delivery.lease_until < bindparam("due_now"))
_DUE = and_(Delivery.entity.in_(DOCUMENTS), or_(_WAITING, _LEASE_OVER), _FIRST_OF_DOCUMENT)


def connections_due(db: Session, now: datetime) -> list[int]:
    """The connections with a Fusion account and a record to deliver now (the records of a connection without
    one wait until it has one)."""
    with_account = exists().where(FusionAccount.connection_id == Delivery.connection_id)
    return list(db.scalars(select(Delivery.connection_id).where(_DUE, with_account).distinct(), {"due_now": now}))


def _claim_statement(which: Any) -> Any:
    """Claim the oldest rows matching ``which`` (waiting ones, or ones whose lease is over): one statement, built
    once with bound parameters; each status apart, so that the pending index (connection, status, id) serves it."""
    chosen = (select(Delivery.id)
              .where(Delivery.connection_id == bindparam("claim_connection"), which, Delivery.entity.in_(DOCUMENTS),
                     _FIRST_OF_DOCUMENT)
              .order_by(Delivery.id).limit(bindparam("claim_limit")).with_for_update(skip_locked=True))
    return (update(Delivery).where(Delivery.id.in_(chosen.scalar_subquery()), which)
            .values(status=DeliveryStatus.DELIVERING, claimed_by=bindparam("claim_worker"),
                    lease_until=bindparam("claim_until"), attempts=Delivery.attempts + 1)
            .returning(Delivery)
            .execution_options(synchronize_session=False, populate_existing=True))


_CLAIM_OVER = _claim_statement(_LEASE_OVER)
_CLAIM_WAITING = _claim_statement(_WAITING)


def claim(db: Session, connection_id: int, worker: str, now: datetime, lease: timedelta,
          limit: int = 1) -> list[Delivery]:
    """Take up to ``limit`` of the connection's oldest due records for ``worker`` until ``now + lease`` (those a
    stopped worker left first), oldest first, never two versions of one document.

    PostgreSQL skips rows another transaction holds (FOR UPDATE SKIP LOCKED) and the status is checked again
    as the row is written; SQLite, which ignores FOR UPDATE, is kept correct by its single writer."""
    params: dict[str, Any] = {"due_now": now, "claim_connection": connection_id, "claim_limit": limit,
                              "claim_worker": worker, "claim_until": now + lease}
    taken = list(db.scalars(_CLAIM_OVER, params).all())
    if len(taken) < limit:
        taken += db.scalars(_CLAIM_WAITING, {**params, "claim_limit": limit - len(taken)}).all()
    return sorted(taken, key=lambda d: d.id)


def settle(db: Session, delivery_id: int, worker: str, **values: Any) -> bool:
    """Write ``values`` on a record ``worker`` still holds; False when its claim was lost (the lease ran out and
    another worker took it), and nothing is written."""
    done = db.execute(update(Delivery)
                      .where(Delivery.id == delivery_id, Delivery.claimed_by == worker,
                             Delivery.status == DeliveryStatus.DELIVERING)
                      .values(**values).returning(Delivery.id)
                      .execution_options(synchronize_session=False)).first()
    return done is not None


def finished(status: DeliveryStatus, outcome: str, now: datetime) -> dict[str, Any]:
    """The values of a record that reached ``status`` (delivered, skipped or failed)."""
    values: dict[str, Any] = {"status": status, "lease_until": None, "not_before": None}
    if status is DeliveryStatus.FAILED:
        values["last_error"] = outcome
    else:
        values |= {"outcome": outcome, "last_error": None, "delivered_at": now}
    return values


def postponed(error: str, not_before: datetime) -> dict[str, Any]:
    """The values of a record that met a transient error: pending again after ``not_before``."""
    return {"status": DeliveryStatus.PENDING, "lease_until": None, "not_before": not_before, "last_error": error}


def create_attempted(db: Session, connection_id: int, qbd_ids: Iterable[str]) -> set[tuple[str, str]]:
    """Of these documents, those (entity, id) a create may have reached Fusion for already (some version of them
    started one)."""
    wanted = list(set(qbd_ids))
    if not wanted:
        return set()
    rows = db.execute(select(Delivery.entity, Delivery.qbd_id).where(
        Delivery.connection_id == connection_id, Delivery.qbd_id.in_(wanted),
        Delivery.create_started_at.is_not(None)).distinct())
    return {(entity, qbd_id) for entity, qbd_id in rows}


# ---------------------------------------------------------------- reads and the operator's retry


def get(db: Session, delivery_id: int) -> Delivery | None:
    return db.get(Delivery, delivery_id)


def select_page(db: Session, connection_id: int | None, statuses: Iterable[DeliveryStatus], *,
                before: int | None, limit: int) -> list[Delivery]:
    """Newest first, ``limit`` records with an id below ``before``."""
    stmt = select(Delivery).order_by(Delivery.id.desc()).limit(limit)
    if connection_id is not None:
        stmt = stmt.where(Delivery.connection_id == connection_id)
    wanted = list(statuses)
    if wanted:
        stmt = stmt.where(Delivery.status.in_(wanted))
    if before is not None:
        stmt = stmt.where(Delivery.id < before)
    return list(db.scalars(stmt))


def ids_with(db: Session, connection_id: int | None, status: DeliveryStatus, limit: int) -> list[int]:
    """The first ``limit`` documents (records the worker takes) of this status, oldest first."""
    stmt = (select(Delivery.id).where(Delivery.status == status, Delivery.entity.in_(DOCUMENTS))
            .order_by(Delivery.id).limit(limit))
    if connection_id is not None:
        stmt = stmt.where(Delivery.connection_id == connection_id)
    return list(db.scalars(stmt))


def count_by_status(db: Session, connection_id: int | None = None) -> dict[str, int]:
    stmt = select(Delivery.status, func.count()).group_by(Delivery.status)
    if connection_id is not None:
        stmt = stmt.where(Delivery.connection_id == connection_id)
    return {str(status): n for status, n in db.execute(stmt).all()}


def send_back(db: Session, delivery: Delivery) -> None:
    """A failed or skipped record goes back to the worker, at once (its attempts and Fusion id stay)."""
    delivery.status = DeliveryStatus.PENDING
    delivery.not_before = delivery.lease_until = delivery.claimed_by = None
    delivery.last_error = delivery.outcome = None
    db.flush()
