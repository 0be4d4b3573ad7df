"""What an operator does with the records pulled from QuickBooks on their way to Fusion: list them, show one (the
QuickBooks XML, the Fusion payload sent, the Fusion id, attempts, the last error), and send failed or skipped
ones back to the delivery worker. The CLI (`qbwc-service deliveries`) and the HTTP API (/api/v1/deliveries) call
these; the rows are written by deliveries.py alone."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from qbwc_service import connections, deliveries
from qbwc_service.clock import SYSTEM_CLOCK, Clock
from qbwc_service.db.enums import DeliveryStatus, EventKind
from qbwc_service.db.models import Delivery, Event
from qbwc_service.errors import DeliveryNotFound, DeliveryStateConflict, InvalidInput, QbwcError

MAX_PAGE = 500
MAX_RETRIED = 10_000


@dataclass(frozen=True)
class DeliveryView:
    """One record as an operator sees it (``connection`` by name)."""

    id: int
    connection: str
    entity: str
    qbd_id: str
    edit_sequence: str
    time_modified: str | None
    status: DeliveryStatus
    attempts: int
    not_before: datetime | None
    last_error: str | None
    outcome: str | None
    fusion_collection: str | None
    fusion_id: str | None
    created_at: datetime
    delivered_at: datetime | None
    fusion_payload: dict[str, object] | None = None
    ret_xml: str | None = None

    @classmethod
    def of(cls, row: Delivery, names: dict[int, str], *, whole: bool = False) -> DeliveryView:
        return cls(id=row.id, connection=names.get(row.connection_id, str(row.connection_id)), entity=row.entity,
                   qbd_id=row.qbd_id, edit_sequence=row.edit_sequence, time_modified=row.time_modified,
                   status=row.status, attempts=row.attempts, not_before=row.not_before, last_error=row.last_error,
                   outcome=row.outcome, fusion_collection=row.fusion_collection, fusion_id=row.fusion_id,
                   created_at=row.created_at, delivered_at=row.delivered_at,
                   fusion_payload=row.fusion_payload if whole else None, ret_xml=row.ret_xml if whole else None)


@dataclass
class DeliveryPage:
    deliveries: list[DeliveryView]
    next_before: int | None


@dataclass
class Retried:
    """What a retry by filter did: the records sent back, and those refused, with why."""

    changed: list[DeliveryView] = field(default_factory=list)
    refused: list[tuple[int, QbwcError]] = field(default_factory=list)


def list_deliveries(db: Session, connection: str | None = None, statuses: tuple[DeliveryStatus, ...] = (), *,
                    before: int | None = None, limit: int = 50) -> DeliveryPage:
    """Newest first; ``before`` (an id) continues a previous page."""
    limit = max(1, min(limit, MAX_PAGE))
    connection_id = connections.get_connection(db, connection).id if connection is not None else None
    rows = deliveries.select_page(db, connection_id, statuses, before=before, limit=limit + 1)
    names = connections.names_by_id(db)
    page = [DeliveryView.of(row, names) for row in rows[:limit]]
    return DeliveryPage(page, page[-1].id if len(rows) > limit else None)


def show_delivery(db: Session, delivery_id: int) -> DeliveryView:
    """One record, whole: its QuickBooks XML and the Fusion payload sent."""
    return DeliveryView.of(_get(db, delivery_id), connections.names_by_id(db), whole=True)


def retry_delivery(db: Session, delivery_id: int, clock: Clock = SYSTEM_CLOCK) -> DeliveryView:
    """Send a failed or skipped record back to the delivery worker (tried at once: after the Fusion product or
    client it lacked was made, the options were changed...)."""
    return _retry(db, _get(db, delivery_id), connections.names_by_id(db), clock)


def _retry(db: Session, row: Delivery, names: dict[int, str], clock: Clock) -> DeliveryView:
    if row.entity not in deliveries.DOCUMENTS:
        raise InvalidInput(f"delivery {row.id} is a QuickBooks {row.entity}: {deliveries.NOT_A_DOCUMENT}")
    if row.status not in deliveries.RETRYABLE:
        raise DeliveryStateConflict(row.id, row.status, "retried", deliveries.RETRYABLE)
    deliveries.send_back(db, row)
    db.add(Event(at=clock.now(), connection_id=row.connection_id, kind=EventKind.DELIVERY_RETRIED,
                 detail=f"delivery {row.id}: {row.entity} {row.qbd_id}"))
    return DeliveryView.of(row, names)


def retry_deliveries(db: Session, connection: str | None, status: DeliveryStatus,
                     clock: Clock = SYSTEM_CLOCK, limit: int = MAX_RETRIED) -> Retried:
    """Retry every record of ``status`` (failed or skipped), of one connection or all, oldest first."""
    if status not in deliveries.RETRYABLE:
        raise InvalidInput(f"only {' or '.join(deliveries.RETRYABLE)} deliveries can be retried, not {status}")
    connection_id = connections.get_connection(db, connection).id if connection is not None else None
    done = Retried()
    names = connections.names_by_id(db)
    for delivery_id in deliveries.ids_with(db, connection_id, status, limit):
        try:
            done.changed.append(_retry(db, _get(db, delivery_id), names, clock))
        except QbwcError as exc:
            done.refused.append((delivery_id, exc))
    return done


def _get(db: Session, delivery_id: int) -> Delivery:
    row = deliveries.get(db, delivery_id)
    if row is None:
        raise DeliveryNotFound(delivery_id)
    return row
