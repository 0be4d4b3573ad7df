"""The closed sets stored in the tables. Each is a ``StrEnum``: its members compare equal to the text
stored, so a row read back and a literal in a query agree."""

from __future__ import annotations

from enum import StrEnum

MAX_INTEGER = 2**31 - 1
"""The largest value of an INTEGER column (32 bits in PostgreSQL): ids and priorities are refused beyond it, before
a query is made."""


class JobStatus(StrEnum):
    """``queued -> sent -> done | failed | dead | unknown``, and ``cancelled``.

    ``failed``: failed this attempt, retried at not_before. ``dead``: needs a person. ``unknown``: sent,
    and the outcome was lost, so it is never re-sent blindly."""

    QUEUED = "queued"
    SENT = "sent"
    DONE = "done"
    FAILED = "failed"
    DEAD = "dead"
    UNKNOWN = "unknown"
    CANCELLED = "cancelled"


class SessionState(StrEnum):
    OPEN = "open"  # holds the connection's lease; jobs are exchanged
    IDLE = "idle"  # nothing to do, or busy: no lease
    CLOSED = "closed"
    EXPIRED = "expired"


class AuthOutcome(StrEnum):
    """How an authenticate ended: ``ok``, or why it was refused (``locked``: the username or the client address
    had too many refusals of late, whatever the token)."""

    OK = "ok"
    WRONG_PASSWORD = "wrong-password"
    REVOKED = "revoked"
    LOCKED = "locked"


class ApiScope(StrEnum):
    """What an API key may do: read (``read-only``), or everything an operator does (``admin``)."""

    READ_ONLY = "read-only"
    ADMIN = "admin"


class DeliveryStatus(StrEnum):
    """A record pulled from QuickBooks, on its way to Fusion: ``pending`` (waiting, or waiting out a backoff after
    a transient error: ``not_before``) -> ``delivering`` (claimed by a worker until ``lease_until``) ->
    ``delivered`` | ``skipped`` (nothing to do, with the reason) | ``failed`` (a person must act; ``last_error``
    says what; ``deliveries retry`` sends it back)."""

    PENDING = "pending"
    DELIVERING = "delivering"
    DELIVERED = "delivered"
    SKIPPED = "skipped"
    FAILED = "failed"


class FusionAuthKind(StrEnum):
    """How a connection signs in to Fusion Operations."""

    BEARER = "bearer"  # a token given by the operator, used as it is
    CLIENT_CREDENTIALS = "client-credentials"  # an OAuth client id and secret exchanged for access tokens
    REFRESH_TOKEN = "refresh-token"  # an OAuth refresh token (3-legged) exchanged for access tokens


class EventKind(StrEnum):
    """What the audit trail records."""

    CONNECTION_CREATED = "connection-created"
    CONNECTION_RENAMED = "connection-renamed"
    CONNECTION_DELETED = "connection-deleted"
    TOKEN_ROTATED = "token-rotated"
    TOKEN_REVOKED = "token-revoked"
    COMPANY_FILE_PINNED = "company-file-pinned"
    COMPANY_FILE_UNPINNED = "company-file-unpinned"
    AUTH_REFUSED = "auth-refused"
    AUTH_LOCKED = "auth-locked"
    AUTH_UNLOCKED = "auth-unlocked"
    SESSION_OPENED = "session-opened"
    SESSION_BUSY = "session-busy"
    SESSION_REFUSED = "session-refused"
    SESSION_CLOSED = "session-closed"
    SESSION_EXPIRED = "session-expired"
    CONNECTION_ERROR = "connection-error"
    MESSAGE_SET_FAILED = "message-set-failed"
    RESPONSE_UNMATCHED = "response-unmatched"
    JOB_ENQUEUED = "job-enqueued"
    JOB_SENT = "job-sent"
    JOB_DONE = "job-done"
    JOB_FAILED = "job-failed"
    JOB_DEAD = "job-dead"
    JOB_UNKNOWN = "job-unknown"
    JOB_QUEUED = "job-queued"
    JOB_RETRIED = "job-retried"
    JOB_CANCELLED = "job-cancelled"
    JOB_CHANGED = "job-changed"
    JOB_RESOLVED = "job-resolved"
    API_KEY_CREATED = "api-key-created"
    API_KEY_REVOKED = "api-key-revoked"
    FUSION_CONFIGURED = "fusion-configured"
    DELIVERY_RETRIED = "delivery-retried"

    @classmethod
    def session_ended(cls, state: SessionState) -> EventKind:
        return cls.SESSION_EXPIRED if state is SessionState.EXPIRED else cls.SESSION_CLOSED

    @classmethod
    def job_became(cls, status: JobStatus) -> EventKind:
        return cls(f"job-{status.value}")
