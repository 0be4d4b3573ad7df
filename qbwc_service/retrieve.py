"""Retrieving QuickBooks documents for Fusion: one pull per document type (sales orders, purchase orders,
invoices, estimates), on a schedule while a Web Connector connects, or by hand from a date.

The automatic retrieve is judged when a Web Connector authenticates, before the session takes any work: when
``retrieve.automatic`` is on, the last automatic retrieve is at least ``interval_minutes`` old and the
connection's clock (``time_zone``) is inside the sync window, a pull of each type in ``retrieve.types`` is
queued from its stream's high-water mark. Each pull's idempotency key names the connection's due slot
(schedule.due_slot), so two processes, or an authentication tried again, queue it once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from pydantic import ValidationError
from sqlalchemy.orm import Session

from mappings.options import ALL_RETRIEVE_TYPES, IntegrationOptions, RetrieveType
from qbwc_service.automation_state import RETRIEVE, state_of
from qbwc_service.db.models import Connection
from qbwc_service.errors import InvalidJobPayload
from qbwc_service.kinds.pull import prepare_pull
from qbwc_service.queue import Enqueued, JobQueue
from qbwc_service.schedule import due_slot, in_window, is_due

log = logging.getLogger(__name__)

QUICKBOOKS_ENTITY: dict[RetrieveType, str] = {
    "sales_order": "SalesOrder", "purchase_order": "PurchaseOrder", "invoice": "Invoice", "estimate": "Estimate"}


def queue_automatic(db: Session, job_queue: JobQueue, connection: Connection, now: datetime) -> list[Enqueued]:
    """The automatic retrieve's pulls, when one is due now; nothing otherwise (options that no longer validate
    queue nothing: the operator is told when the options are read)."""
    try:
        options = IntegrationOptions.model_validate(connection.options or {})
    except ValidationError:
        return []
    wanted = options.retrieve
    if not wanted.automatic or not in_window(now, options.time_zone, wanted.window_start, wanted.window_end):
        return []
    state = state_of(db, connection.id, RETRIEVE)
    if not is_due(now, state.ran_at, wanted.interval_minutes):
        return []
    slot = due_slot(now, wanted.interval_minutes).strftime("%Y-%m-%dT%H:%M")
    made = [_queue(db, job_queue, connection, kind, None, f"auto-retrieve:{kind}:{slot}") for kind in wanted.types]
    state.ran_at = now
    log.info("automatic retrieve queued: %s", ", ".join(wanted.types),
             extra={"connection": connection.name, "slot": slot})
    return made


def parse_types(text: str | Sequence[str] | None) -> tuple[RetrieveType, ...]:
    """``sales_order,invoice`` (or a list) as retrieve types; all of them when none is given."""
    if text is None:
        return ALL_RETRIEVE_TYPES
    names = [part.strip() for part in (text.split(",") if isinstance(text, str) else text) if part.strip()]
    unknown = [name for name in names if name not in QUICKBOOKS_ENTITY]
    if unknown or not names:
        raise InvalidJobPayload(f"unknown retrieve type {', '.join(unknown) or '(none)'}; use "
                                f"{', '.join(QUICKBOOKS_ENTITY)}", "types")
    return tuple(dict.fromkeys(names))  # type: ignore[arg-type]


def queue_manual(db: Session, job_queue: JobQueue, connection: Connection, since: datetime,
                 types: Sequence[RetrieveType], key: str | None = None) -> list[Enqueued]:
    """Pulls of every document of ``types`` created or modified after ``since`` (the company's local time); the
    high-water marks are left as they are."""
    stamp = since.replace(microsecond=0).isoformat()
    return [_queue(db, job_queue, connection, kind, stamp, f"{key}:{kind}" if key else None) for kind in types]


def _queue(db: Session, job_queue: JobQueue, connection: Connection, kind: RetrieveType, since: str | None,
           key: str | None) -> Enqueued:
    prepared = prepare_pull(QUICKBOOKS_ENTITY[kind], since=since)
    return job_queue.enqueue(db, connection.id, prepared.kind, prepared.payload, key=key,
                             read_only=prepared.read_only)
