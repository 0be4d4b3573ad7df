"""The operator's actions of the automatic mode, one function each (the CLI and the HTTP API call these): retrieve
QuickBooks documents from a date, send an entity by its Fusion id, send stock read from Fusion, close or reopen
a QuickBooks sales order, set the webhook's shared secret."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import httpx
from sqlalchemy.orm import Session, sessionmaker

from qbwc_service import connections, fusion_accounts, retrieve
from qbwc_service.clock import SYSTEM_CLOCK, Clock
from qbwc_service.errors import InvalidFusionAccount, InvalidJobPayload
from qbwc_service.fusion.http import Sleep
from qbwc_service.fusion_reads import flow_of, snapshot, stock_levels
from qbwc_service.kinds.closing import enqueue_close
from qbwc_service.kinds.flows import enqueue_flow
from qbwc_service.queue import Enqueued, JobQueue
from qbwc_service.secretbox import SecretBox
from qbwc_service.settings import Settings

MIN_WEBHOOK_SECRET = 16


def retrieve_documents(db: Session, job_queue: JobQueue, connection: str, since: str,
                       types: str | Sequence[str] | None = None, *, key: str | None = None) -> list[Enqueued]:
    """Queue a pull of every QuickBooks document of ``types`` (all four when none) created or modified after
    ``since`` (a date, or a date-time, in the company's time)."""
    found = connections.get_connection(db, connection)
    return retrieve.queue_manual(db, job_queue, found, parse_since(since), retrieve.parse_types(types), key)


def parse_since(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text.strip()) if "T" in text or " " in text.strip() else \
            datetime.combine(date.fromisoformat(text.strip()), datetime.min.time())
    except ValueError as exc:
        raise InvalidJobPayload(f"since {text!r} is not a date (2026-11-01) or a date-time "
                                "(2026-11-01T08:00:00)", "since") from exc


def fetch_from_fusion(sessions: sessionmaker[Session], settings: Settings, connection: str, flow: str,
                      fusion_id: str, *, clock: Clock = SYSTEM_CLOCK, http: httpx.Client | None = None,
                      sleep: Sleep | None = None) -> dict[str, Any]:
    """The entity ``flow`` sends, read from the connection's Fusion account by its id."""
    flow = flow_of(flow)
    client = fusion_accounts.open_client(sessions, connection, settings, clock=clock, http=http, sleep=sleep)
    try:
        return snapshot(client, flow, fusion_id)
    finally:
        if http is None:
            client.close()


def enqueue_from_fusion(sessions: sessionmaker[Session], job_queue: JobQueue, settings: Settings, connection: str,
                        flow: str, fusion_id: str, *, clock: Clock = SYSTEM_CLOCK, automatic: bool = False,
                        http: httpx.Client | None = None, sleep: Sleep | None = None) -> list[Enqueued]:
    """Send what Fusion holds now for the entity ``fusion_id``: read (outside any transaction), then queued like
    an entity given whole, in one transaction."""
    data = fetch_from_fusion(sessions, settings, connection, flow, fusion_id, clock=clock, http=http, sleep=sleep)
    with sessions.begin() as db:
        return enqueue_flow(db, job_queue, connections.get_connection(db, connection), flow_of(flow), data,
                            automatic=automatic)


def stock_from_fusion(sessions: sessionmaker[Session], settings: Settings, connection: str,
                      product: str | None = None, *, clock: Clock = SYSTEM_CLOCK, http: httpx.Client | None = None,
                      sleep: Sleep | None = None) -> list[dict[str, Any]]:
    """Stock levels read from Fusion: one product's (by its code), or every product's."""
    client = fusion_accounts.open_client(sessions, connection, settings, clock=clock, http=http, sleep=sleep)
    try:
        return stock_levels(client, product)
    finally:
        if http is None:
            client.close()


def close_order(db: Session, job_queue: JobQueue, connection: str, fusion_id: str, *, close: bool = True) -> Enqueued:
    """Mark the QuickBooks sales order of the Fusion order ``fusion_id`` closed (its lines not fully invoiced), or
    open again. Refused for an order never sent."""
    found = connections.get_connection(db, connection)
    return enqueue_close(db, job_queue, found, str(fusion_id), None, close=close, reason="asked by an operator")


def set_webhook_secret(db: Session, connection: str, settings: Settings, secret: str | None = None,
                       clock: Clock = SYSTEM_CLOCK) -> str:
    """Set the shared secret of the connection's Fusion webhooks (a new random one when none is given); returns
    it, to be shown once and given to Fusion."""
    if secret is not None and len(secret.strip()) < MIN_WEBHOOK_SECRET:
        raise InvalidFusionAccount("webhook_secret", f"a webhook secret needs at least {MIN_WEBHOOK_SECRET} "
                                   "characters")
    chosen = secret.strip() if secret is not None else secrets.token_urlsafe(32)
    found = connections.get_connection(db, connection)
    fusion_accounts.require(db, found)
    box = SecretBox.from_settings(settings, "storing the webhook secret")
    fusion_accounts.set_webhook_secret(db, found, chosen, box, clock)
    return chosen
