"""What an operator does, one function each: the CLI, the HTTP API and the pages call these and only
translate their inputs and outputs. Each refusal is a typed exception (qbwc_service.errors) carrying what
it is about."""

from __future__ import annotations

import copy
import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from mappings.options import IntegrationOptions
from qbwc_service import authentication, connections
from qbwc_service.clock import SYSTEM_CLOCK, Clock
from qbwc_service.connections import Holdings
from qbwc_service.db.enums import EventKind, JobStatus
from qbwc_service.db.models import Connection, Event, Job
from qbwc_service.errors import ConnectionBusy, InvalidJobPayload, InvalidOption, Refusal, Refused
from qbwc_service.kinds import REGISTRY
from qbwc_service.kinds.flows import enqueue_flow as enqueue_flow_entity
from qbwc_service.kinds.flows import options_of, refuse_non_us, refuse_stock_sync_off
from qbwc_service.kinds.probe import prepare_probe
from qbwc_service.kinds.pull import prepare_pull
from qbwc_service.kinds.raw import Prepared, prepare_raw
from qbwc_service.queue import PENDING, Enqueued, JobQueue, count_by_status, get_job

PROBE_PRIORITY = 10


# ---------------------------------------------------------------- pairing


@dataclass(frozen=True)
class NewPairing:
    """A new token, shown once, and the company file the connection was pinned to until then."""

    connection: Connection
    token: str
    unpinned: str | None


@dataclass(frozen=True)
class Unpinned:
    connection: Connection
    company_file: str | None  # the path that was pinned; None when nothing was


def rotate_token(db: Session, connection: str, clock: Clock = SYSTEM_CLOCK) -> NewPairing:
    """A new token starts a new pairing (FAQ 4: the same company set up on another computer): the old token
    stops working at once, and the company-file pin is lifted, so the first session with the new token pins
    the file it opens, whatever its path there. The links to QuickBooks documents are kept: the company is
    the same, so nothing already sent is sent again."""
    made = connections.rotate_token(db, connection, clock)
    unpinned = connections.unpin_company_file(db, made.connection, "a new token was made", clock)
    return NewPairing(made.connection, made.token, unpinned)


def unpin_company_file(db: Session, connection: str, clock: Clock = SYSTEM_CLOCK) -> Unpinned:
    """Forget the pinned company file without a new token (the same company now opened from another path):
    the next session pins the file it opens. The links are kept."""
    found = connections.get_connection(db, connection)
    return Unpinned(found, connections.unpin_company_file(db, found, "unpinned by an operator", clock))


def unlock_connection(db: Session, connection: str, clock: Clock = SYSTEM_CLOCK) -> Connection:
    """Lift a username's lockout (refused authentications) and forget its refusals; recorded as an event."""
    found = connections.get_connection(db, connection)
    authentication.unlock(found)
    db.add(Event(at=clock.now(), connection_id=found.id, kind=EventKind.AUTH_UNLOCKED))
    return found


# ---------------------------------------------------------------- queueing work


def enqueue_raw(db: Session, job_queue: JobQueue, connection: str, request: str, *, key: str | None = None,
                priority: int = 0) -> Enqueued:
    """Queue an operator-supplied qbXML request element."""
    return _enqueue(db, job_queue, connection, prepare_raw(request), key, priority)


def enqueue_probe(db: Session, job_queue: JobQueue, connection: str) -> Enqueued:
    """Queue the read-only "test access" probe (HostQuery + CompanyQuery)."""
    return _enqueue(db, job_queue, connection, prepare_probe(), None, PROBE_PRIORITY)


def enqueue_pull(db: Session, job_queue: JobQueue, connection: str, entity: str, *, since: str | None = None,
                 max_returned: int = 100) -> Enqueued:
    """Queue a read of QuickBooks records changed since ``since`` (default: since the last completed pull)."""
    if since is not None:
        try:
            datetime.fromisoformat(since)
        except ValueError as exc:
            raise InvalidJobPayload(f"since {since!r} is not a date-time such as 2026-11-01T00:00:00",
                                    "since") from exc
    return _enqueue(db, job_queue, connection, prepare_pull(entity, max_returned=max_returned, since=since), None, 0)


def enqueue_flow(db: Session, job_queue: JobQueue, connection: str, flow: str, entity: Any,
                 *, automatic: bool = False) -> list[Enqueued]:
    """Queue one Fusion entity for its send flow (one job per time record of a production order)."""
    return enqueue_flow_entity(db, job_queue, connections.get_connection(db, connection), flow, entity,
                               automatic=automatic)


def _enqueue(db: Session, job_queue: JobQueue, connection: str, prepared: Prepared, key: str | None,
             priority: int) -> Enqueued:
    found = connections.get_connection(db, connection)
    return job_queue.enqueue(db, found.id, prepared.kind, prepared.payload, key=key, priority=priority,
                             read_only=prepared.read_only)


# ---------------------------------------------------------------- stock


@dataclass
class StockSent:
    queued: list[Enqueued] = field(default_factory=list)
    already_queued: list[Enqueued] = field(default_factory=list)
    not_labelled: list[str] = field(default_factory=list)  # product codes skipped


def send_stock(db: Session, job_queue: JobQueue, connection: str, levels: Iterable[Any]) -> StockSent:
    """Send the stock of every product given (only labelled products when that option is on)."""
    found = connections.get_connection(db, connection)
    refuse_non_us(found)
    refuse_stock_sync_off(found, options_of(found))
    sent = StockSent()
    for level in levels:
        try:
            (made,) = enqueue_flow_entity(db, job_queue, found, "stock", level)
        except Refused as exc:
            if exc.reason is not Refusal.NOT_LABELLED:
                raise
            sent.not_labelled.append(exc.subject)
            continue
        (sent.queued if made.created else sent.already_queued).append(made)
    return sent


def send_stock_of(db: Session, job_queue: JobQueue, connection: str, product: str,
                  levels: Sequence[Any]) -> Enqueued:
    """Update one product's quantity on hand, picked by its Fusion code from the stock levels given."""
    chosen = [level for level in levels
              if isinstance(level, dict) and (level.get("product") or {}).get("code") == product]
    if not chosen:
        raise InvalidJobPayload(f"product {product!r} is not in the stock levels given", "product")
    found = connections.get_connection(db, connection)
    refuse_stock_sync_off(found, options_of(found))
    (made,) = enqueue_flow_entity(db, job_queue, found, "stock", chosen[0])
    return made


# ---------------------------------------------------------------- connections: rename, delete


def rename_connection(db: Session, connection: str, new_name: str, clock: Clock = SYSTEM_CLOCK) -> Connection:
    """Give a connection a new name; its Web Connector username and token stay, so pairing is untouched."""
    return connections.rename(db, connections.get_connection(db, connection), new_name, clock)


def connection_holdings(db: Session, connection: str) -> tuple[Holdings, dict[str, int]]:
    """What deleting a connection would delete, and its unfinished jobs by status."""
    found = connections.get_connection(db, connection)
    return connections.holdings(db, found), _unfinished(db, found.id)


def delete_connection(db: Session, connection: str, *, force: bool = False,
                      clock: Clock = SYSTEM_CLOCK) -> Holdings:
    """Delete a connection with all it holds (jobs, sessions, events, links, pulled records), in the caller's
    one transaction. Refused (ConnectionBusy) while it has unfinished jobs (queued, sent, failed, unknown),
    unless ``force``: they would never be sent, or their outcome never known."""
    found = connections.get_connection(db, connection)
    unfinished = _unfinished(db, found.id)
    if unfinished and not force:
        raise ConnectionBusy(found.name, unfinished)
    return connections.delete(db, found, clock)


def _unfinished(db: Session, connection_id: int) -> dict[str, int]:
    return {status: count for status, count in count_by_status(db, connection_id).items() if status in PENDING}


# ---------------------------------------------------------------- options


def update_options(db: Session, connection: str, *, set_values: Sequence[tuple[str, Any]] = (),
                   unset: Sequence[str] = ()) -> IntegrationOptions:
    """Change a connection's integration options (dotted keys for nested ones: sales_orders.automatic);
    the result is validated as a whole before it is saved."""
    for dotted in [*(key for key, _value in set_values), *unset]:
        _check_option_name(dotted)
    found = connections.get_connection(db, connection)
    stored: dict[str, Any] = copy.deepcopy(found.options or {})
    for dotted, value in set_values:
        _assign(stored, dotted, value)
    for dotted in unset:
        _remove(stored, dotted)
    try:
        options = IntegrationOptions.model_validate(stored)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InvalidOption(".".join(str(p) for p in first["loc"]), first["msg"]) from exc
    found.options = options.model_dump(mode="json", exclude_defaults=True)
    return options


def _check_option_name(dotted: str) -> None:
    """A dotted key names an option (sales_orders.automatic: a group's option), else InvalidOption: an unknown
    key is never silently set or unset."""
    model: type[BaseModel] = IntegrationOptions
    parts = dotted.split(".")
    for depth, part in enumerate(parts):
        known = model.model_fields
        if part not in known:
            close = difflib.get_close_matches(part, known, n=1)
            hint = f"did you mean {'.'.join([*parts[:depth], close[0]])}?" if close else f"known: {', '.join(known)}"
            raise InvalidOption(dotted, f"no such option ({hint})")
        annotation = known[part].annotation
        if depth < len(parts) - 1:
            if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
                raise InvalidOption(dotted, f"{'.'.join(parts[:depth + 1])} is not a group of options")
            model = annotation


def _assign(target: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    for part in parents:
        nested = target.setdefault(part, {})
        if not isinstance(nested, dict):
            raise InvalidOption(part, "is not a group of options")
        target = nested
    target[leaf] = value


def _remove(target: dict[str, Any], dotted: str) -> None:
    *parents, leaf = dotted.split(".")
    for part in parents:
        nested = target.get(part)
        if not isinstance(nested, dict):
            return
        target = nested
    target.pop(leaf, None)


# ---------------------------------------------------------------- jobs


def retry_job(db: Session, job_queue: JobQueue, job_id: int) -> Job:
    """Put a failed, dead, unknown or cancelled job back on the queue, keeping what its kind keeps across
    a retry (a pending lookup of a lost add, a pull's progress)."""
    job = get_job(db, job_id)
    return job_queue.retry(db, job, REGISTRY.of(job).progress_on_retry(job))


def cancel_job(db: Session, job_queue: JobQueue, job_id: int) -> Job:
    """Cancel a job not done yet; a job left ``sent`` by a session that is no longer live can be cancelled
    too (its answer will never come: check QuickBooks for what it sent)."""
    job = get_job(db, job_id)
    connection = db.get(Connection, job.connection_id)
    live = connection is not None and connection.live_ticket == job.ticket and connection.live_until is not None \
        and connection.live_until >= job_queue.clock.now()
    stuck = job.status == JobStatus.SENT and not live
    return job_queue.cancel(db, job_id, stuck=stuck)
