"""Exceptions raised by qbwc-service. Each carries what it is about as attributes, so a caller (the CLI, the
API) decides from those, never from the message.

The tree::

    QbwcError                      anything this service raises on purpose
    ├── SettingsError              the settings file or environment is invalid
    │   ├── SecretKeyMissing       no secret_key, so no secret can be stored or read (.purpose)
    │   └── SecretUnreadable       a stored secret that secret_key cannot decrypt (.what)
    ├── DatabaseProblem            the database cannot be used as it is (.url, its password hidden)
    │   ├── DatabaseUnavailable    unreachable, refused, damaged or not a database (.reason)
    │   ├── DatabaseMissing        no SQLite file where the settings point, for a command that only reads (.path)
    │   └── SchemaNotCurrent       its schema is not the one this version uses (.current, .head)
    ├── AccessRefused              a caller of the HTTP API (or the pages) without the right to do this
    │   ├── NotAuthenticated       no API key, or one that is not valid (.reason)
    │   ├── NotPermitted           a valid key whose scope does not allow this (.scope, .needed)
    │   └── WebhookRefused         a Fusion webhook whose signature, age or event id is not accepted (.reason)
    ├── NotFound                   a connection, job or API key that does not exist (.what, .key)
    │   ├── ConnectionNotFound
    │   ├── JobNotFound
    │   └── ApiKeyNotFound
    ├── InvalidInput               input refused before anything changed
    │   ├── InvalidJobPayload      a job's payload (raw qbXML, entity JSON) is not acceptable (.field)
    │   ├── InvalidName            a connection or API key name that cannot be used (.name)
    │   ├── InvalidOption          an integration option that cannot be saved (.field, .reason)
    │   ├── IdempotencyKeyReused   a key given again with another request than the first (.key, .job_id)
    │   ├── FusionNotConfigured    a connection with no Fusion account set up yet (.connection)
    │   ├── InvalidFusionAccount   Fusion settings that cannot be saved (.field, .reason)
    │   └── Refused                the connection's state or options do not allow it (.reason: Refusal)
    │       └── NonUsCompany       a sign says the company is not a US edition (.client_country, .host_country)
    ├── Conflict                   the request clashes with the current state
    │   ├── ConnectionExists       (.name)
    │   ├── ApiKeyExists           (.name)
    │   ├── ConnectionBusy         deleting a connection whose jobs are not finished (.name, .unfinished)
    │   └── JobStateConflict       e.g. retrying a job that is already done (.job_id, .status, .action, .allowed)
    │       └── ResolveFirst       retrying a lost write QuickBooks cannot be asked about: say whether it landed
    └── BulkJobRefused             one job of a bulk request was refused, so none was queued (.index, .error)

The Fusion client's errors (``qbwc_service.fusion.errors.FusionError``: Fusion unavailable, refusing, or
answering what cannot be read) are a branch of ``QbwcError`` drawn in their own module.

Not in this tree: ``qbwc_service.qbxml.errors.QbxmlError`` (building or reading qbXML), the root of the qbXML
engine's own tree because ``qbxml`` imports nothing of the service, and ``mappings.errors.MappingError`` (a
``ValueError``). An edge that turns errors into answers (the CLI's one-line failure) catches ``QbxmlError``
beside ``QbwcError``.

A qbXML error *status* returned by QuickBooks is data stored on the job, not an exception.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path


class QbwcError(Exception):
    """Base of every error this service raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SettingsError(QbwcError):
    """The settings file or the QBWC_* environment holds an invalid value."""


class SecretKeyMissing(SettingsError):
    """No ``secret_key`` is set: secrets (Fusion credentials) are neither stored nor read without it.
    ``purpose`` says what needed it."""

    def __init__(self, purpose: str) -> None:
        super().__init__(f"no secret key is set, so {purpose} is refused: make one with `qbwc-service secret-key` "
                         "and set it as QBWC_SECRET_KEY (or secret_key in the settings file, or a file named by "
                         "secret_key_file); keep it safe, the stored credentials cannot be read without it")
        self.purpose = purpose


class SecretUnreadable(SettingsError):
    """A stored secret (``what``) that none of the ``secret_key`` keys decrypts: the key changed or was lost."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} cannot be decrypted with the secret key set now: it was stored with another key. "
                         "Set the key it was stored with (several keys can be given, separated by commas), or "
                         "store the credentials again")
        self.what = what


class DatabaseProblem(QbwcError):
    """The database named by the settings cannot be used as it is; ``url`` names it, password hidden."""

    def __init__(self, url: str, message: str) -> None:
        super().__init__(message)
        self.url = url


class DatabaseUnavailable(DatabaseProblem):
    """The database does not answer, refuses the connection, or is not a database; ``reason`` is the driver's
    word for it, on one line."""

    def __init__(self, url: str, reason: str, message: str) -> None:
        super().__init__(url, message)
        self.reason = reason


class DatabaseMissing(DatabaseProblem):
    """A command that only reads found no SQLite file at ``path``; it does not create one."""

    def __init__(self, url: str, path: Path) -> None:
        super().__init__(url, f"no database at {path}: `qbwc-service connection create NAME` or `qbwc-service db "
                         "upgrade` creates it; or set QBWC_DATABASE_URL to the database you meant")
        self.path = path


class SchemaNotCurrent(DatabaseProblem):
    """The database's schema revision (``current``; None: no tables yet) is not this version's (``head``)."""

    def __init__(self, url: str, current: str | None, head: str | None, *, known: bool) -> None:
        if current is None:
            message = f"the database at {url} has no qbwc-service tables yet; run `qbwc-service db upgrade` first"
        elif known:
            message = (f"the database at {url} is at schema revision {current} and this version needs {head}; "
                       "run `qbwc-service db upgrade` first")
        else:
            message = (f"the database at {url} is at schema revision {current}, which this version of qbwc-service "
                       "does not know: a newer version made it; upgrade qbwc-service")
        super().__init__(url, message)
        self.current, self.head = current, head


class AccessRefused(QbwcError):
    """The caller may not do this: the HTTP API answers 401 or 403, and nothing changes."""


class NotAuthenticated(AccessRefused):
    """No API key was given, or the one given is not valid (unknown, revoked, mistyped); ``reason`` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NotPermitted(AccessRefused):
    """A valid key whose ``scope`` does not allow what was asked (``needed``)."""

    def __init__(self, scope: str, needed: str) -> None:
        super().__init__(f"this API key is {scope}; this needs an {needed} key")
        self.scope, self.needed = scope, needed


class WebhookRefused(AccessRefused):
    """A Fusion webhook request refused before anything changed: ``reason`` is one of ``signature`` (no valid
    signature by a connection's shared secret, or no connection named), ``stale`` (its timestamp is outside the
    tolerance) or ``replayed`` (its event id was taken before)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class NotFound(QbwcError):
    """Something named by the caller does not exist."""

    def __init__(self, what: str, key: object, message: str) -> None:
        super().__init__(message)
        self.what, self.key = what, key


class ConnectionNotFound(NotFound):
    def __init__(self, name: str) -> None:
        super().__init__("connection", name, f"no connection named {name!r}")


class JobNotFound(NotFound):
    def __init__(self, job_id: int) -> None:
        super().__init__("job", job_id, f"no job {job_id}")


class DeliveryNotFound(NotFound):
    def __init__(self, delivery_id: int) -> None:
        super().__init__("delivery", delivery_id, f"no delivery {delivery_id}")


class ApiKeyNotFound(NotFound):
    def __init__(self, name: str) -> None:
        super().__init__("API key", name, f"no API key named {name!r}")


class InvalidInput(QbwcError):
    """Input refused before anything changed."""


class InvalidJobPayload(InvalidInput):
    """A payload that cannot make a job; ``field`` names the bad part when there is one."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class InvalidName(InvalidInput):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


class InvalidOption(InvalidInput):
    """An integration option value or combination that cannot be saved."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"invalid option{' ' + field if field else ''}: {reason}")
        self.field, self.reason = field, reason


class IdempotencyKeyReused(InvalidInput):
    """An idempotency key given again with another request than the one that made job ``job_id``: the same key
    must mean the same request, so nothing is queued."""

    def __init__(self, key: str, job_id: int) -> None:
        super().__init__(f"the idempotency key {key!r} was used for another request (job {job_id}); use a new key "
                         "for a new request")
        self.key, self.job_id = key, job_id


class FusionNotConfigured(InvalidInput):
    """The connection has no Fusion Operations account set up (``connection fusion``)."""

    def __init__(self, connection: str) -> None:
        super().__init__(f"connection {connection!r} has no Fusion Operations account yet: set it up with "
                         f"`qbwc-service connection fusion {connection!r} --url URL --token TOKEN` (or an OAuth "
                         "client)")
        self.connection = connection


class InvalidFusionAccount(InvalidInput):
    """A Fusion URL or set of credentials that cannot be saved; ``field`` names the option at fault."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


class Refusal(StrEnum):
    """Why a connection does not take some work."""

    UNKNOWN_FLOW = "unknown-flow"
    FLOW_DISABLED = "flow-disabled"
    MANUAL_ONLY = "manual-only"
    STOCK_SYNC_OFF = "stock-sync-off"
    NOT_LABELLED = "not-labelled"
    NON_US_COMPANY = "non-us-company"
    ORDER_ALREADY_BILLED = "order-already-billed"
    ALREADY_SENT = "already-sent"  # queued again with other content, and the first version is on its way or in
    NOT_IN_QUICKBOOKS = "not-in-quickbooks"  # an order to close or reopen that was never sent to QuickBooks


class Refused(InvalidInput):
    """The connection's state or options do not allow this work; ``reason`` says which rule, ``subject``
    what it was about (a flow, a product code, the company)."""

    def __init__(self, reason: Refusal, subject: str, message: str) -> None:
        super().__init__(message)
        self.reason, self.subject = reason, subject


class NonUsCompany(Refused):
    """Sends to this company are refused (FAQ 5): the country the Web Connector reports (``client_country``)
    or the one QuickBooks reports (``host_country``) is not US, or the two disagree. Either may be None
    (not reported yet); ``subject`` is the company's name."""

    def __init__(self, company: str, client_country: str | None, host_country: str | None, message: str) -> None:
        super().__init__(Refusal.NON_US_COMPANY, company, message)
        self.client_country, self.host_country = client_country, host_country


class Conflict(QbwcError):
    """The request clashes with the current state."""


class ConnectionExists(Conflict):
    def __init__(self, name: str) -> None:
        super().__init__(f"a connection named {name!r} exists already")
        self.name = name


class ApiKeyExists(Conflict):
    def __init__(self, name: str) -> None:
        super().__init__(f"an API key named {name!r} exists already")
        self.name = name


class ConnectionBusy(Conflict):
    """A connection that still has unfinished jobs (``unfinished``: their count by status) cannot be deleted
    unless the caller forces it: they would never be sent, or their outcome never known."""

    def __init__(self, name: str, unfinished: dict[str, int]) -> None:
        counts = ", ".join(f"{count} {status}" for status, count in sorted(unfinished.items()))
        super().__init__(f"connection {name!r} has {sum(unfinished.values())} unfinished jobs ({counts}); deleting "
                         "it would drop them: let them finish or cancel them first, or force the deletion")
        self.name, self.unfinished = name, unfinished


class JobStateConflict(Conflict):
    def __init__(self, job_id: int, status: str, action: str, allowed: Iterable[str],
                 message: str | None = None) -> None:
        names = [str(s) for s in allowed]
        if message is None:
            either = f"{', '.join(names[:-1])} or {names[-1]}" if len(names) > 1 else names[0]
            message = f"job {job_id} is {status}; only {either} jobs can be {action}"
        super().__init__(message)
        self.job_id, self.status, self.action, self.allowed = job_id, str(status), action, names


class DeliveryStateConflict(Conflict):
    """A delivery asked to do what its status does not allow (retry one that is not failed or skipped)."""

    def __init__(self, delivery_id: int, status: str, action: str, allowed: Iterable[str]) -> None:
        names = [str(s) for s in allowed]
        super().__init__(f"delivery {delivery_id} is {status}; only {' or '.join(names)} deliveries can be {action}")
        self.delivery_id, self.status, self.action, self.allowed = delivery_id, str(status), action, names


class ResolveFirst(JobStateConflict):
    """Retrying job ``job_id`` could create its document twice: it is a write whose answer was lost, and it
    carries no marker by which QuickBooks could be asked whether it landed. A person checks QuickBooks and
    resolves it (it landed: done; it did not: back to the queue)."""

    def __init__(self, job_id: int, status: str) -> None:
        super().__init__(job_id, status, "retried", (), message=(
            f"job {job_id} is a write whose answer was lost, and it may have landed in QuickBooks: retrying it could "
            f"make the document twice. Check QuickBooks, then resolve it: `qbwc-service jobs resolve {job_id} "
            "--landed` (keeping its TxnID with --txn-id) or `--not-landed` (which queues it again)"))


class BulkJobRefused(QbwcError):
    """Job ``index`` (from 0) of a bulk request was refused with ``error``; the request queued nothing."""

    def __init__(self, index: int, error: QbwcError) -> None:
        super().__init__(f"job {index} of the request: {error}")
        self.index, self.error = index, error
