"""Records pulled from QuickBooks (the outbox towards Fusion) and each stream's high-water mark.

This module is the only writer of ``qbwc_deliveries`` and ``qbwc_sync_state``. A record is stored once
per QuickBooks version of it (its id and EditSequence): reading it again adds nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lxml import etree
from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from qbwc_service.db.enums import DeliveryStatus
from qbwc_service.db.models import Delivery, SyncState


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


def store(db: Session, connection_id: int, job_id: int, records: Iterable[PulledRecord], now: datetime) -> int:
    """Insert the records not seen before; returns how many were new."""
    rows: list[dict[str, Any]] = [
        {
            "connection_id": connection_id, "job_id": job_id, "entity": r.entity, "qbd_id": r.qbd_id,
            "edit_sequence": r.edit_sequence, "time_modified": r.time_modified, "ret_xml": r.xml,
            "status": DeliveryStatus.PENDING, "attempts": 0, "created_at": now,
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
