"""The tables. Every name is prefixed ``qbwc_``; timestamps are naive UTC."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from qbwc_service.db.enums import (
    ApiScope,
    AuthOutcome,
    DeliveryStatus,
    EventKind,
    FusionAuthKind,
    JobStatus,
    SessionState,
)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _stored_as_text(enum: type[StrEnum], length: int) -> Enum:
    """A closed set kept as its text (VARCHAR), read back as the enum."""
    return Enum(enum, native_enum=False, create_constraint=False, length=length, validate_strings=True,
                values_callable=lambda members: [member.value for member in members])


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class Connection(Base):
    """One Fusion account + one QuickBooks company file + one Web Connector user."""

    __tablename__ = "qbwc_connections"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    token_hash: Mapped[str | None] = mapped_column(String(200))
    token_created_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    owner_id: Mapped[str] = mapped_column(String(38))
    file_id: Mapped[str] = mapped_column(String(38))
    company_file: Mapped[str | None] = mapped_column(Text)
    company_name: Mapped[str | None] = mapped_column(String(255))
    qb_product: Mapped[str | None] = mapped_column(String(255))
    qb_major_version: Mapped[str | None] = mapped_column(String(20))
    # Two signs of the company's edition, the newest report of each (qbwc_service.editions): the country
    # QuickBooks itself reports (its host answer, the probe) and the one the Web Connector reports.
    qb_country: Mapped[str | None] = mapped_column(String(8))
    client_country: Mapped[str | None] = mapped_column(String(8))
    qbxml_versions: Mapped[list[Any] | None] = mapped_column(JSON)
    qbxml_version: Mapped[str | None] = mapped_column(String(10))
    client_version: Mapped[str | None] = mapped_column(String(40))
    # The last contact and authentication that succeeded: a refused one never writes these (anyone can send a
    # wrong token), it writes the failed_auth columns.
    last_contact_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_auth_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_auth_outcome: Mapped[AuthOutcome | None] = mapped_column(_stored_as_text(AuthOutcome, 40))
    # The client address (an IPv6 /64) that last authenticated: a username lockout does not shut it out.
    last_auth_address: Mapped[str | None] = mapped_column(String(64))
    last_failed_auth_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_failed_auth_outcome: Mapped[AuthOutcome | None] = mapped_column(_stored_as_text(AuthOutcome, 40))
    # Refused authentications in the window that began at failed_auths_since (qbwc_service.authentication).
    failed_auths: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    failed_auths_since: Mapped[datetime | None] = mapped_column(DateTime)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime)
    last_exchange_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_connection_error: Mapped[str | None] = mapped_column(Text)
    live_ticket: Mapped[str | None] = mapped_column(String(64))
    live_until: Mapped[datetime | None] = mapped_column(DateTime)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class AuthFailures(Base):
    """Refused authentications per client address (an IPv4 address or an IPv6 /64), in a window, and the
    address's lockout. A row lives until its window and its lockout are over (qbwc_service.authentication)."""

    __tablename__ = "qbwc_auth_failures"

    address: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    window_started_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime)


class WebConnectorSession(Base):
    """One Web Connector update: authenticate ... closeConnection."""

    __tablename__ = "qbwc_sessions"
    __table_args__ = (
        # /metrics: the open sessions, and the sessions active lately, without reading the old ones.
        Index("ix_qbwc_sessions_state", "state", "connection_id"),
        Index("ix_qbwc_sessions_activity", "last_activity_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket: Mapped[str] = mapped_column(String(64), unique=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("qbwc_connections.id"), index=True)
    state: Mapped[SessionState] = mapped_column(_stored_as_text(SessionState, 20))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    last_activity_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)
    company_file: Mapped[str | None] = mapped_column(Text)
    client_address: Mapped[str | None] = mapped_column(String(64))
    # The service process that served the session's latest call (qbwc_processes.id; no foreign key: a process's row
    # goes when it stops, and the session outlives it).
    process_id: Mapped[str | None] = mapped_column(String(32))
    last_error: Mapped[str | None] = mapped_column(Text)
    message_sets: Mapped[int] = mapped_column(Integer, default=0)
    jobs_done: Mapped[int] = mapped_column(Integer, default=0)
    jobs_failed: Mapped[int] = mapped_column(Integer, default=0)


class ServiceProcess(Base):
    """A service process (`serve`) and its heartbeat: ``seen_at`` moves while it runs, and the row goes when it
    stops cleanly. ``host`` names the machine and its process namespace, where ``pid`` means something."""

    __tablename__ = "qbwc_processes"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(DateTime)
    seen_at: Mapped[datetime] = mapped_column(DateTime)


CLAIMABLE_STATUSES = "status IN ('queued', 'failed', 'unknown')"
"""The statuses a session may claim (unknown: only a reconcilable job), written out as the due index's predicate; the
claim repeats it word for word, so that SQLite and PostgreSQL both see that the index holds every row it wants."""


IN_FLIGHT = "status = 'sent'"
"""The jobs in flight, written out as their index's predicate; the read of a session's jobs in flight repeats it word
for word (a bound parameter would not prove to either engine that the index holds the rows)."""


class Job(Base):
    """One unit of work for QuickBooks; only qbwc_service.queue writes these rows. ``kind`` names its JobKind
    (qbwc_service.kinds); ``cursor`` holds that kind's progress model as JSON."""

    __tablename__ = "qbwc_jobs"
    __table_args__ = (
        UniqueConstraint("connection_id", "idempotency_key", name="uq_qbwc_jobs_connection_key"),
        # The jobs in flight under a ticket, and only those: a job keeps the ticket that last sent it, so an index
        # of every ticketed job made each call of a long session read all it had settled so far.
        Index("ix_qbwc_jobs_in_flight", "ticket", sqlite_where=text(IN_FLIGHT), postgresql_where=text(IN_FLIGHT)),
        Index("ix_qbwc_jobs_order", "connection_id", "order_key"),
        # /metrics: the unfinished jobs by status, and the jobs settled lately, without reading the done ones.
        Index("ix_qbwc_jobs_status", "status", "connection_id"),
        Index("ix_qbwc_jobs_updated", "updated_at"),
        Index("ix_qbwc_jobs_prunable", "status", "pruned_at", "finished_at"),
        CheckConstraint(f"status IN ({', '.join(repr(s.value) for s in JobStatus)})", name="ck_qbwc_jobs_status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("qbwc_connections.id"))
    kind: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    idempotency_key: Mapped[str] = mapped_column(String(255))
    # The key was the caller's (a Fusion entity's, an operator's --key), not made up: it stops the same work from
    # being queued twice, so pruning keeps the row of such a job (retention.py).
    key_given: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    status: Mapped[JobStatus] = mapped_column(_stored_as_text(JobStatus, 20))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    read_only: Mapped[bool] = mapped_column(Boolean, default=False)
    # A lost outcome of this job can be settled by a lookup in QuickBooks (it carries a marker).
    reconcilable: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # Sent in a message set of its own: QuickBooks refused a whole set it was in, and one request is to blame.
    send_alone: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime | None] = mapped_column(DateTime)
    ticket: Mapped[str | None] = mapped_column(String(64))
    depends_on: Mapped[int | None] = mapped_column(ForeignKey("qbwc_jobs.id"))
    # The order a bill or invoice bills ("sales_order:5001"): what decides one document per order.
    order_key: Mapped[str | None] = mapped_column(String(120))
    request_xml: Mapped[str | None] = mapped_column(Text)  # the job's own request, as last sent
    # The last query that read back what an earlier attempt did (a lost add's lookup, an EditSequence read again).
    lookup_xml: Mapped[str | None] = mapped_column(Text)
    response_xml: Mapped[str | None] = mapped_column(Text)
    status_code: Mapped[str | None] = mapped_column(String(20))
    status_message: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    warnings: Mapped[list[Any] | None] = mapped_column(JSON)
    cursor: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    # When pruning dropped the XML and the events of this job, whose row stays for its key (retention.py).
    pruned_at: Mapped[datetime | None] = mapped_column(DateTime)


# The claim's index: the due jobs of a connection in the order they are sent, holding only the claimable ones, so
# that a claim reads its first few entries however deep the queue and however many jobs are done.
Index("ix_qbwc_jobs_due", Job.connection_id, Job.priority.desc(), Job.id,
      sqlite_where=text(CLAIMABLE_STATUSES), postgresql_where=text(CLAIMABLE_STATUSES))


class Event(Base):
    """Audit trail: job transitions and session happenings."""

    __tablename__ = "qbwc_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, index=True)
    connection_id: Mapped[int | None] = mapped_column(ForeignKey("qbwc_connections.id"), index=True)
    job_id: Mapped[int | None] = mapped_column(Integer, index=True)
    ticket: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[EventKind] = mapped_column(_stored_as_text(EventKind, 40))
    detail: Mapped[str | None] = mapped_column(Text)


class Delivery(Base):
    """A record pulled from QuickBooks, waiting to be delivered to Fusion; one row per version."""

    __tablename__ = "qbwc_deliveries"
    __table_args__ = (
        UniqueConstraint("connection_id", "entity", "qbd_id", "edit_sequence", name="uq_qbwc_deliveries_version"),
        Index("ix_qbwc_deliveries_pending", "connection_id", "status", "id"),
        Index("ix_qbwc_deliveries_document", "connection_id", "qbd_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("qbwc_connections.id"))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("qbwc_jobs.id"))
    entity: Mapped[str] = mapped_column(String(40))
    qbd_id: Mapped[str] = mapped_column(String(60))
    edit_sequence: Mapped[str] = mapped_column(String(40))
    time_modified: Mapped[str | None] = mapped_column(String(40))
    ret_xml: Mapped[str] = mapped_column(Text)
    status: Mapped[DeliveryStatus] = mapped_column(_stored_as_text(DeliveryStatus, 20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime)
    # the delivery worker's (delivery_worker.py)
    claimed_by: Mapped[str | None] = mapped_column(String(120))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime)
    create_started_at: Mapped[datetime | None] = mapped_column(DateTime)  # a create may have reached Fusion
    fusion_collection: Mapped[str | None] = mapped_column(String(40))
    fusion_id: Mapped[str | None] = mapped_column(String(100))
    fusion_payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    outcome: Mapped[str | None] = mapped_column(Text)  # what was done, or why nothing was


class SyncState(Base):
    """Per connection and stream: the modified-date high-water mark of the last completed pull."""

    __tablename__ = "qbwc_sync_state"
    __table_args__ = (UniqueConstraint("connection_id", "stream", name="uq_qbwc_sync_state_stream"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("qbwc_connections.id"))
    stream: Mapped[str] = mapped_column(String(60))
    high_water: Mapped[str | None] = mapped_column(String(40))
    last_run_at: Mapped[datetime | None] = mapped_column(DateTime)


class AutomationState(Base):
    """Per connection and automation (``retrieve``, or a send flow's name): when it last ran, and for a flow, the
    Fusion cursor it polls from, (updatedAt, id) of the newest entity handled, with the entities handled within
    the overlap (``seen``: id -> updatedAt), so that one met again is recognised."""

    __tablename__ = "qbwc_automation_state"
    __table_args__ = (UniqueConstraint("connection_id", "name", name="uq_qbwc_automation_state_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("qbwc_connections.id"))
    name: Mapped[str] = mapped_column(String(40))
    mark_at: Mapped[str | None] = mapped_column(String(40))
    mark_id: Mapped[str | None] = mapped_column(String(100))
    seen: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    ran_at: Mapped[datetime | None] = mapped_column(DateTime)


class WebhookEvent(Base):
    """A Fusion webhook event taken (its id, per connection): the same event again is a replay, refused."""

    __tablename__ = "qbwc_webhook_events"
    __table_args__ = (
        UniqueConstraint("connection_id", "event_id", name="uq_qbwc_webhook_events_event"),
        Index("ix_qbwc_webhook_events_received", "received_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("qbwc_connections.id"))
    event_id: Mapped[str] = mapped_column(String(200))
    received_at: Mapped[datetime] = mapped_column(DateTime)


class Link(Base):
    """The id map: a Fusion entity sent by a connection, and the QuickBooks object it became."""

    __tablename__ = "qbwc_links"
    __table_args__ = (UniqueConstraint("connection_id", "flow", "fusion_id", name="uq_qbwc_links_entity"),
                      Index("ix_qbwc_links_qbd", "connection_id", "flow", "qbd_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("qbwc_connections.id"))
    flow: Mapped[str] = mapped_column(String(40))
    fusion_id: Mapped[str] = mapped_column(String(100))
    qbd_type: Mapped[str] = mapped_column(String(40))
    qbd_id: Mapped[str] = mapped_column(String(60))
    ref_number: Mapped[str | None] = mapped_column(String(40))
    edit_sequence: Mapped[str | None] = mapped_column(String(40))
    line_ids: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("qbwc_jobs.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime)


class ApiKey(Base):
    """A key to the HTTP API. The key itself is shown once; ``key_id``, its public part, finds the row, and only a
    salted hash of its secret part is kept (as for connection tokens)."""

    __tablename__ = "qbwc_api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    key_id: Mapped[str] = mapped_column(String(32), unique=True)
    key_hash: Mapped[str] = mapped_column(String(200))
    scope: Mapped[ApiScope] = mapped_column(_stored_as_text(ApiScope, 20))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)


class FusionAccount(Base):
    """A connection's Fusion Operations account: where its API is and how to sign in. Every secret is stored
    encrypted (``*_sealed``, qbwc_service.secretbox); the OAuth access token in use is kept too, with its
    expiry, so that every process of the service shares it. ``token_version`` grows with each new access token:
    a process saves the one it obtained only if no other process saved one meanwhile."""

    __tablename__ = "qbwc_fusion_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("qbwc_connections.id"), unique=True)
    base_url: Mapped[str] = mapped_column(Text)
    auth_kind: Mapped[FusionAuthKind] = mapped_column(_stored_as_text(FusionAuthKind, 30))
    token_url: Mapped[str | None] = mapped_column(Text)
    client_id: Mapped[str | None] = mapped_column(String(255))
    scope: Mapped[str | None] = mapped_column(String(255))
    # The bearer token, or the OAuth client secret.
    secret_sealed: Mapped[str | None] = mapped_column(Text)
    refresh_token_sealed: Mapped[str | None] = mapped_column(Text)
    access_token_sealed: Mapped[str | None] = mapped_column(Text)
    access_expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    token_version: Mapped[int] = mapped_column(Integer, default=0)
    # Which Fusion account answered the last test (its id keys the request budget once known).
    account_id: Mapped[str | None] = mapped_column(String(100))
    account_name: Mapped[str | None] = mapped_column(String(255))
    tested_at: Mapped[datetime | None] = mapped_column(DateTime)
    test_outcome: Mapped[str | None] = mapped_column(Text)
    configured_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    # The shared secret Fusion's webhooks are signed with (HMAC-SHA256), encrypted like the others.
    webhook_secret_sealed: Mapped[str | None] = mapped_column(Text)


class FusionBudget(Base):
    """The request budget of one Fusion account, shared by every process of the service: the theoretical
    arrival time of the next request (GCRA, in seconds since the epoch of the service's clock). Only
    qbwc_service.fusion.budget writes it."""

    __tablename__ = "qbwc_fusion_budgets"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_key: Mapped[str] = mapped_column(String(255), unique=True)
    tat: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
