"""The protocol every job kind follows, what it is given, and the status policy they share.

A kind says whether its jobs only read (so that a lost answer may simply be asked again), builds the requests
of a claimed job, and turns QuickBooks' answers into a :mod:`settlement <qbwc_service.settlements>` that the
queue applies. A kind never writes its job: what it wants remembered between exchanges is its progress
model, returned with a settlement (or with the requests it built).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from lxml import etree
from pydantic import BaseModel, ConfigDict
from sqlalchemy.orm import Session

from qbwc_service.clock import Clock
from qbwc_service.db.models import Connection, Job
from qbwc_service.qbxml.response import Response
from qbwc_service.qbxml.status import Action, StatusCode, answered, explain, verdict_for
from qbwc_service.qbxml.stream import ResponseHeader
from qbwc_service.qbxml.versions import Version
from qbwc_service.queue import JobQueue
from qbwc_service.settlements import Dead, Done, Retry, Settlement


class Progress(BaseModel):
    """Base of the per-kind progress models kept in a job's JSON column."""

    model_config = ConfigDict(extra="ignore", frozen=True)


P = TypeVar("P", bound=Progress)


@dataclass(frozen=True)
class BuildContext:
    """What a request may depend on besides the job."""

    db: Session
    connection: Connection
    version: Version
    ticket: str
    sync_date: date


@dataclass(frozen=True)
class Built:
    requests: list[etree._Element]
    progress: Progress | None = None  # what building the requests changed (a pull's iterator)
    warnings: list[str] = field(default_factory=list)  # what the mapping changed in the entity's text
    # A query that reads back what an earlier attempt did (a lost add's lookup, an EditSequence read again),
    # not the job's own request: the job keeps both (request_xml, lookup_xml).
    looks_up: bool = False


@dataclass(frozen=True)
class SettleContext:
    """What settling an answer may use: the session's connection, its version, the queue (for follow-up
    jobs), and the date documents are dated with."""

    db: Session
    connection: Connection
    version: Version
    ticket: str
    sync_date: date
    queue: JobQueue
    clock: Clock


@dataclass(frozen=True)
class ResolveContext:
    """What a person's word on a lost job may use: its connection and the service's clock."""

    db: Session
    connection: Connection
    clock: Clock


@dataclass
class Answer:
    """QuickBooks' answers to one job: whole ``*Rs`` elements, or, for a kind that streams, the header of
    its one answer and what the kind made of its records as they went by."""

    responses: list[Response] = field(default_factory=list)
    header: ResponseHeader | None = None
    page: Any = None


class JobKind(Protocol):
    name: str
    streams: bool

    def reads_only(self, payload: dict[str, Any]) -> bool:
        """Whether sending this job again is harmless (a lost answer is then simply asked again)."""
        ...

    def build(self, job: Job, ctx: BuildContext) -> Built: ...

    def consume(self, job: Job, records: Iterable[etree._Element], ctx: SettleContext) -> Any:
        """For a kind that streams: take the records of its answer as they are parsed."""
        ...

    def settle(self, job: Job, answer: Answer, ctx: SettleContext) -> Settlement: ...

    def progress_when_lost(self, job: Job) -> Progress | None:
        """What to remember when the job's outcome was lost (None: nothing changes)."""
        ...

    def progress_on_retry(self, job: Job) -> Progress | None:
        """The progress an operator's retry keeps (plans made inside a session start over)."""
        ...

    def landed(self, job: Job, txn_id: str | None, ctx: ResolveContext) -> dict[str, Any]:
        """A person found this lost write in QuickBooks (``txn_id``: the id they found, if they gave one): the
        result the job keeps, after recording what its kind records of a write that landed."""
        ...

    def progress_when_not_landed(self, job: Job) -> Progress | None:
        """A person found this lost write is not in QuickBooks: the progress it is sent again with."""
        ...


class RequestKind(Generic[P]):
    """A kind whose answers are ordinary ``*Rs`` elements, settled by the status policy unless the kind
    knows better. Subclasses set ``name`` and ``progress_model`` and write ``build``."""

    name: str
    progress_model: ClassVar[type[Progress]] = Progress
    streams = False

    def reads_only(self, payload: dict[str, Any]) -> bool:
        return False

    def progress(self, job: Job) -> P:
        return self.progress_model.model_validate(job.cursor or {})  # type: ignore[return-value]

    def consume(self, job: Job, records: Iterable[etree._Element], ctx: SettleContext) -> Any:
        raise TypeError(f"{self.name} jobs do not stream their answers")

    def settle(self, job: Job, answer: Answer, ctx: SettleContext) -> Settlement:
        decisive = first_decisive(answer.responses)
        if decisive is None:
            return self.done(job, answer.responses, ctx)
        return self.refused(job, decisive, answer.responses, ctx)

    def done(self, job: Job, responses: list[Response], ctx: SettleContext) -> Settlement:
        first = responses[0]
        result: dict[str, Any] = dict(first.ids())
        if first.status_code == StatusCode.NO_MATCH:
            result["matched"] = 0
        return Done(result=result, response_xml=joined(responses), status_code=first.status_code,
                    status_message=first.status_message)

    def refused(self, job: Job, decisive: Response, responses: list[Response], ctx: SettleContext) -> Settlement:
        return by_policy(decisive.status_code, decisive.status_severity, decisive.status_message, joined(responses),
                         result=dict(responses[0].ids()))

    def progress_when_lost(self, job: Job) -> Progress | None:
        return None

    def progress_on_retry(self, job: Job) -> Progress | None:
        return self.progress(job)

    def landed(self, job: Job, txn_id: str | None, ctx: ResolveContext) -> dict[str, Any]:
        return {"TxnID": txn_id} if txn_id else {}

    def progress_when_not_landed(self, job: Job) -> Progress | None:
        return self.progress_on_retry(job)


def first_decisive(responses: list[Response]) -> Response | None:
    """The first answer that is neither OK nor an empty query: it decides the job."""
    return next((r for r in responses if not answered(r.status_code)), None)


def joined(responses: list[Response]) -> str:
    return "\n".join(r.text() for r in responses)


def by_policy(code: str, severity: str, message: str, response_xml: str | None,
              progress: Progress | None = None, result: dict[str, Any] | None = None) -> Settlement:
    """The status table's word on a non-OK status, for a kind with nothing better to do."""
    verdict = verdict_for(code, severity)
    if verdict.action is Action.DONE:
        return Done(result=result, response_xml=response_xml, status_code=code, status_message=message,
                    progress=progress)
    text = explain(code, message, verdict)
    if verdict.action is Action.RETRY:
        return Retry(text, code, response_xml, progress)
    return Dead(text, code, response_xml, progress)
