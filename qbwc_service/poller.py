"""The Fusion poller: for each connection with a Fusion account, each flow whose ``automatic`` switch is on (and
sales orders and shipments when ``close_sales_order_when_shipped`` is) is asked what changed since its cursor, and
each entity changed is taken (fusion_intake.take).

The cursor is kept per connection and flow (automation_state): the (updatedAt, id) of the newest entity taken
(never later than now), with the entities taken within OVERLAP of it. A poll asks from OVERLAP before the cursor,
so an entity saved late or met at a page boundary is asked again; one taken already with the same updatedAt is
recognised and skipped, and one queued again is recognised by its idempotency key. The first poll of a flow
starts OVERLAP before now: what changed before a flow was automatic is sent by hand (`enqueue FLOW CONNECTION
--fusion-id ID`).

:func:`run_once` is one pass; background.poll_task runs it every ``fusion_poll_seconds`` (in `serve`, beside the
delivery worker, and in `qbwc-service poll`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from mappings.options import IntegrationOptions
from qbwc_service import automation_state, fusion_accounts
from qbwc_service.clock import Clock
from qbwc_service.db.models import Connection, FusionAccount
from qbwc_service.errors import QbwcError
from qbwc_service.fusion.client import FusionClient
from qbwc_service.fusion.http import Sleep
from qbwc_service.fusion_intake import take
from qbwc_service.fusion_reads import COLLECTIONS, list_filters
from qbwc_service.kinds.flows import FLOWS
from qbwc_service.queue import JobQueue
from qbwc_service.settings import Settings

log = logging.getLogger(__name__)

OVERLAP = timedelta(minutes=5)
STOP_WAIT_SECONDS = 2.0
WEBHOOK_EVENTS_KEPT = timedelta(hours=1)
"""Webhook event ids are kept this long: far beyond the signature's tolerance, after which a replay is refused
for its age anyway."""


@dataclass
class PollReport:
    connections: int = 0
    seen: int = 0  # entities listed as changed
    recognised: int = 0  # met again within the overlap, skipped
    queued: int = 0  # jobs created
    refused: int = 0  # entities the flow's rules did not take
    errors: list[str] = field(default_factory=list)  # per connection, what kept it from being polled


def polled_flows(options: IntegrationOptions) -> list[str]:
    """The flows a connection's options ask the poller to watch."""
    chosen = [flow for flow in COLLECTIONS if getattr(options, FLOWS[flow].switch or "").automatic]
    if options.close_sales_order_when_shipped:
        chosen += [flow for flow in ("sales_order", "shipment") if flow not in chosen]
    return chosen


def run_once(sessions: sessionmaker[Session], settings: Settings, job_queue: JobQueue, clock: Clock, *,
             only: str | None = None, http: httpx.Client | None = None, sleep: Sleep | None = None) -> PollReport:
    """One pass over every connection (or ``only``): a connection whose Fusion fails is reported and the next one
    polled; its cursor stays where the last entity taken left it."""
    report = PollReport()
    with sessions.begin() as db:
        automation_state.forget_events_before(db, clock.now() - WEBHOOK_EVENTS_KEPT)
        rows = db.execute(select(Connection.name, Connection.options).join(
            FusionAccount, FusionAccount.connection_id == Connection.id).where(Connection.revoked_at.is_(None))
            .order_by(Connection.id)).all()
    for name, stored in rows:
        if only is not None and name != only:
            continue
        try:
            flows = polled_flows(IntegrationOptions.model_validate(stored or {}))
        except ValidationError:
            continue
        if not flows:
            continue
        report.connections += 1
        try:
            client = fusion_accounts.open_client(sessions, name, settings, clock=clock, http=http, sleep=sleep)
        except QbwcError as exc:
            report.errors.append(f"{name}: {exc}")
            continue
        try:
            for flow in flows:
                _poll_flow(sessions, job_queue, client, name, flow, clock, report)
        except QbwcError as exc:
            log.warning("polling Fusion failed: %s", exc, extra={"connection": name})
            report.errors.append(f"{name}: {exc}")
        finally:
            if http is None:
                client.close()
    return report


def _poll_flow(sessions: sessionmaker[Session], job_queue: JobQueue, client: FusionClient, connection: str,
               flow: str, clock: Clock, report: PollReport) -> None:
    with sessions.begin() as db:
        connection_id = db.scalar(select(Connection.id).where(Connection.name == connection))
        assert connection_id is not None
        state = automation_state.state_of(db, connection_id, flow)
        if state.mark_at is None:  # the first poll: from now on
            state.mark_at = _stamp(clock.now() - OVERLAP)
        mark, mark_id, seen = state.mark_at, state.mark_id, dict(state.seen or {})
    since = _moment(mark) - OVERLAP
    listed = sorted(client.changed(COLLECTIONS[flow], since, filters=list_filters(flow)), key=_order)
    for entity in listed:
        report.seen += 1
        fusion_id, updated = str(entity.get("id")), _stamp_of(entity)
        if seen.get(fusion_id) == updated:
            report.recognised += 1
            continue
        taken = take(sessions, job_queue, client, connection, flow, fusion_id)
        report.queued += taken.created
        report.refused += int(taken.refused is not None)
        seen[fusion_id] = updated
        # Never beyond now: an entity stamped in the future (a clock ahead) must not hide what comes before it.
        capped = min(updated, _stamp(clock.now()))
        if (capped, fusion_id) > (mark, mark_id or ""):
            mark, mark_id = capped, fusion_id
        floor = _stamp(_moment(mark) - OVERLAP)
        seen = {key: value for key, value in seen.items() if value >= floor}
        with sessions.begin() as db:
            state = automation_state.state_of(db, connection_id, flow)
            state.mark_at, state.mark_id, state.seen, state.ran_at = mark, mark_id, seen, clock.now()


def _order(entity: dict[str, object]) -> tuple[str, int, str]:
    key = str(entity.get("id"))
    return _stamp_of(entity), int(key) if key.isdigit() else 0, key


def _stamp_of(entity: dict[str, object]) -> str:
    value = entity.get("updatedAt") or entity.get("createdAt")
    return _stamp(_moment(str(value))) if value else ""


def _moment(text: str) -> datetime:
    """An ISO time as naive UTC."""
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _stamp(moment: datetime) -> str:
    return moment.replace(microsecond=0).isoformat()
