"""Fusion webhooks: ``POST /api/v1/webhooks/fusion?connection=NAME`` (or ``?account=FUSION_ACCOUNT_ID``).

No API key: the request is signed. ``X-Fusion-Timestamp`` holds the time it was signed (Unix seconds) and
``X-Fusion-Signature`` ``sha256=`` and the hex HMAC-SHA256 of ``TIMESTAMP.BODY`` (the raw body) under the
connection's shared secret (stored encrypted; set by `connection fusion NAME --webhook-secret`). The body names
the event and the entity changed::

    {"id": "evt-20261201-0001", "entity": {"type": "shippings", "id": 8001}}

(``type``: a Fusion collection, or a flow name). Refused with nothing changed, in this order: a client address
locked by its refusals (429, ``locked``: ``auth_failures_per_address`` refused webhooks within
``auth_window_seconds`` lock it for ``auth_lockout_seconds``, as for the Web Connector's passwords; nothing is
logged while it lasts); no connection whose secret signed the body (401, ``signature``); a timestamp further
from now than ``webhook_tolerance_seconds`` (401, ``stale``); an event id taken before (409, ``replayed``). An
accepted event reads the entity from Fusion (the body's copy is never trusted) and takes it as the poller does;
its id is then recorded, so the same event again is a replay.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from qbwc_service import automation_state, fusion_accounts
from qbwc_service.authentication import Authenticator, AuthLimits, door_key
from qbwc_service.clock import Clock
from qbwc_service.db.models import Connection, FusionAccount
from qbwc_service.errors import InvalidJobPayload, SecretUnreadable, WebhookRefused
from qbwc_service.fusion.http import Sleep
from qbwc_service.fusion_intake import Taken, take
from qbwc_service.fusion_reads import flow_of
from qbwc_service.queue import JobQueue
from qbwc_service.secretbox import SecretBox
from qbwc_service.settings import Settings

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Fusion-Signature"
TIMESTAMP_HEADER = "X-Fusion-Timestamp"
MAX_EVENT_ID = 200


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header's value for ``body`` signed at ``timestamp``."""
    digest = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


@dataclass(frozen=True)
class Event:
    event_id: str
    flow: str
    fusion_id: str


@dataclass(frozen=True)
class Received:
    connection: str
    event: Event
    taken: Taken


def receive(sessions: sessionmaker[Session], settings: Settings, job_queue: JobQueue, clock: Clock, *,
            connection: str | None, account: str | None, timestamp: str | None, signature: str | None,
            body: bytes, address: str = "", http: httpx.Client | None = None, sleep: Sleep | None = None) -> Received:
    """Check a webhook request and take the entity it names; WebhookRefused (or InvalidJobPayload for a signed
    body that names no entity) with nothing changed but the count of the address's refusals."""
    limiter = Authenticator(AuthLimits.for_settings(settings))
    counted_as = door_key("webhook", address)
    with sessions.begin() as db:
        if limiter.address_locked(db, counted_as, clock.now()):
            raise WebhookRefused("locked", "too many refused webhooks from this address: wait, then try again")
    try:
        name = _signed_by(sessions, settings, connection, account, timestamp or "", signature or "", body)
        try:
            signed_at = datetime.fromtimestamp(int(timestamp or ""), UTC).replace(tzinfo=None)
        except (ValueError, OverflowError, OSError):
            signed_at = None
        if signed_at is None or abs((clock.now() - signed_at).total_seconds()) > settings.webhook_tolerance_seconds:
            _refused(name, "stale")
            raise WebhookRefused("stale", f"the webhook's timestamp is more than "
                                 f"{settings.webhook_tolerance_seconds} seconds from now")
    except WebhookRefused:
        with sessions.begin() as db:
            if limiter.refuse_address(db, counted_as, clock.now()) is not None:
                log.warning("Fusion webhooks locked for a client address", extra={"address": counted_as})
        raise
    event = parse_event(body)
    with sessions.begin() as db:
        connection_id = db.scalar(select(Connection.id).where(Connection.name == name))
        assert connection_id is not None
        if automation_state.event_taken(db, connection_id, event.event_id):
            _refused(name, "replayed")
            raise WebhookRefused("replayed", f"event {event.event_id!r} was taken before")
    client = fusion_accounts.open_client(sessions, name, settings, clock=clock, http=http, sleep=sleep)
    try:
        taken = take(sessions, job_queue, client, name, event.flow, event.fusion_id)
    finally:
        if http is None:
            client.close()
    with sessions.begin() as db:
        if not automation_state.take_event(db, connection_id, event.event_id, clock.now()):
            raise WebhookRefused("replayed", f"event {event.event_id!r} was taken before")
    return Received(name, event, taken)


def parse_event(body: bytes) -> Event:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidJobPayload("the webhook's body is not JSON", "body") from exc
    entity = data.get("entity") if isinstance(data, dict) else None
    event_id = data.get("id") if isinstance(data, dict) else None
    if not isinstance(event_id, str | int) or not str(event_id).strip() or len(str(event_id)) > MAX_EVENT_ID:
        raise InvalidJobPayload(f"the webhook names no event id (\"id\", at most {MAX_EVENT_ID} characters)", "id")
    if not isinstance(entity, dict) or not isinstance(entity.get("type"), str) or entity.get("id") is None:
        raise InvalidJobPayload("the webhook names no entity ({\"type\": ..., \"id\": ...})", "entity")
    return Event(str(event_id), flow_of(entity["type"]), str(entity["id"]))


def _signed_by(sessions: sessionmaker[Session], settings: Settings, connection: str | None, account: str | None,
               timestamp: str, signature: str, body: bytes) -> str:
    """The connection whose shared secret made ``signature``; WebhookRefused otherwise (the same answer whether
    no connection is named, none has a secret, or the signature is wrong)."""
    if connection or account:
        with sessions.begin() as db:
            rows = db.execute(select(Connection.name, FusionAccount.webhook_secret_sealed).join(
                FusionAccount, FusionAccount.connection_id == Connection.id).where(
                FusionAccount.webhook_secret_sealed.is_not(None), Connection.revoked_at.is_(None),
                or_(Connection.name == (connection or ""), FusionAccount.account_id == (account or "")))).all()
        if rows and signature.isascii() and timestamp.isascii():
            box = SecretBox.from_settings(settings, "checking Fusion webhooks")
            for name, sealed in rows:
                try:
                    secret = box.open(str(sealed), f"the webhook secret of connection {name!r}")
                except SecretUnreadable:
                    continue
                if hmac.compare_digest(sign(secret, timestamp, body), signature):
                    return str(name)
    _refused((connection or account or "")[:100], "signature")
    raise WebhookRefused("signature", "the webhook is not signed by the shared secret of a connection named "
                         "(?connection=NAME or ?account=FUSION_ACCOUNT_ID)")


def _refused(who: str, reason: str) -> None:
    log.warning("Fusion webhook refused (%s)", reason, extra={"connection": who[:100]})
