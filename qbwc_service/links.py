"""The id map: which QuickBooks object each Fusion entity became, or (the retrieve flows, ``retrieve_<type>``) which
Fusion order each QuickBooks document became. The only writer of ``qbwc_links``."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from qbwc_service.db.models import Link


def find(db: Session, connection_id: int, flow: str, fusion_id: str | int) -> Link | None:
    return db.scalar(select(Link).where(Link.connection_id == connection_id, Link.flow == flow,
                                        Link.fusion_id == str(fusion_id)))


def find_by_qbd(db: Session, connection_id: int, flow: str, qbd_id: str) -> Link | None:
    """The Fusion entity a QuickBooks object became through ``flow`` (a retrieve flow: QuickBooks -> Fusion)."""
    return db.scalar(select(Link).where(Link.connection_id == connection_id, Link.flow == flow,
                                        Link.qbd_id == qbd_id).order_by(Link.id).limit(1))


def find_many_by_qbd(db: Session, connection_id: int, flows: Iterable[str], qbd_ids: Iterable[str]) -> dict[
        tuple[str, str], Link]:
    """The links of these QuickBooks objects through these flows, by (flow, QuickBooks id)."""
    wanted = list(set(qbd_ids))
    if not wanted:
        return {}
    found = db.scalars(select(Link).where(Link.connection_id == connection_id, Link.flow.in_(list(flows)),
                                          Link.qbd_id.in_(wanted)).order_by(Link.id))
    chosen: dict[tuple[str, str], Link] = {}
    for link in found:
        chosen.setdefault((link.flow, link.qbd_id), link)
    return chosen


def record(
    db: Session,
    connection_id: int,
    flow: str,
    fusion_id: str | int,
    *,
    qbd_type: str,
    qbd_id: str,
    ref_number: str | None = None,
    edit_sequence: str | None = None,
    line_ids: dict[str, Any] | None = None,
    job_id: int | None = None,
    now: datetime,
) -> Link:
    """Remember what a Fusion entity became; a second record of the same entity updates the first."""
    link = find(db, connection_id, flow, fusion_id)
    if link is None:
        link = Link(connection_id=connection_id, flow=flow, fusion_id=str(fusion_id), created_at=now)
        db.add(link)
    link.qbd_type, link.qbd_id = qbd_type, qbd_id
    link.ref_number, link.edit_sequence = ref_number, edit_sequence
    link.line_ids = line_ids or link.line_ids
    link.job_id = job_id
    db.flush()
    return link



def forget_jobs(db: Session, job_ids: list[int]) -> None:
    """The jobs that made these links are being deleted (retention.py): the links stay, naming no job."""
    if job_ids:
        db.execute(update(Link).where(Link.job_id.in_(job_ids)).values(job_id=None)
                   .execution_options(synchronize_session=False))


def forget_all(db: Session, connection_id: int) -> None:
    """Drop a connection's whole id map (the connection is being deleted)."""
    db.execute(delete(Link).where(Link.connection_id == connection_id))
