"""Every error of the API as ``application/problem+json`` (RFC 9457), one stable shape::

    {"type": "urn:qbwc-service:problem:invalid-option", "title": "Invalid option", "status": 422,
     "detail": "invalid option sales_orders.automatic: ...", "instance": "/api/v1/connections/Shop/options",
     "field": "sales_orders.automatic", "reason": "..."}

``type`` and ``title`` are fixed per kind of problem; the fields after ``detail`` are the data the exception
carries (qbwc_service.errors), so a client decides from them, never from ``detail``. This is the API's one edge
where errors become answers: an unexpected exception is logged once here and answered 500, saying nothing of it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qbwc_service.errors import (
    ApiKeyExists,
    BulkJobRefused,
    Conflict,
    ConnectionBusy,
    ConnectionExists,
    DatabaseProblem,
    IdempotencyKeyReused,
    InvalidInput,
    InvalidJobPayload,
    InvalidName,
    InvalidOption,
    JobStateConflict,
    NonUsCompany,
    NotAuthenticated,
    NotFound,
    NotPermitted,
    QbwcError,
    Refused,
    ResolveFirst,
    WebhookRefused,
)
from qbwc_service.fusion.errors import FusionError, FusionNotFound
from qbwc_service.qbxml.errors import QbxmlError

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:qbwc-service:problem:"


class Problem(BaseModel):
    """An error answer. Besides these, a problem carries the fields of its kind (``field``, ``reason``, ``job_id``,
    ``status`` of a job as ``job_status``, ...), named in each kind's description."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None


@dataclass(frozen=True)
class Described:
    status: int
    slug: str
    title: str
    fields: dict[str, Any] = field(default_factory=dict)


def describe(exc: Exception) -> Described:
    """The problem an exception is: its status, kind and fields."""
    match exc:
        case BulkJobRefused():
            inner = describe(exc.error)
            where = f"jobs[{exc.index}]"
            named = inner.fields.get("field")
            return Described(inner.status, inner.slug, inner.title,
                             {**inner.fields, "index": exc.index, "field": f"{where}.{named}" if named else where})
        case NotAuthenticated():
            return Described(401, "not-authenticated", "No valid API key", {"reason": exc.reason})
        case WebhookRefused():
            status = {"replayed": 409, "locked": 429}.get(exc.reason, 401)
            return Described(status, f"webhook-{exc.reason}", "Webhook refused",
                             {"reason": exc.reason})
        case FusionNotFound():
            return Described(422, "fusion-not-found", "Not found in Fusion", {"what": exc.what, "key": exc.key})
        case FusionError():
            return Described(502, "fusion-error", "Fusion did not answer as needed",
                             {"fusion_status": exc.status, "transient": exc.transient})
        case NotPermitted():
            return Described(403, "not-permitted", "Not allowed with this API key",
                             {"scope": exc.scope, "needed": exc.needed})
        case NotFound():
            return Described(404, "not-found", "Not found", {"what": exc.what, "key": exc.key})
        case InvalidOption():
            return Described(422, "invalid-option", "Invalid option", {"field": exc.field, "reason": exc.reason})
        case InvalidJobPayload():
            return Described(422, "invalid-job", "Invalid job", {"field": exc.field})
        case InvalidName():
            return Described(422, "invalid-name", "Invalid name", {"name": exc.name})
        case IdempotencyKeyReused():
            return Described(422, "idempotency-key-reused", "Idempotency key reused",
                             {"key": exc.key, "job_id": exc.job_id})
        case NonUsCompany():
            return Described(422, "refused", "Refused", {"reason": exc.reason, "subject": exc.subject,
                                                         "client_country": exc.client_country,
                                                         "host_country": exc.host_country})
        case Refused():
            return Described(422, "refused", "Refused", {"reason": exc.reason, "subject": exc.subject})
        case InvalidInput():
            return Described(422, "invalid-input", "Invalid input")
        case ResolveFirst():
            return Described(409, "resolve-first", "Resolve the job first",
                             {"job_id": exc.job_id, "job_status": exc.status})
        case JobStateConflict():
            return Described(409, "job-state", "Not in this job's state", {
                "job_id": exc.job_id, "job_status": exc.status, "action": exc.action, "allowed": exc.allowed})
        case ConnectionExists() | ApiKeyExists():
            return Described(409, "exists", "Exists already", {"name": exc.name})
        case ConnectionBusy():
            return Described(409, "connection-busy", "The connection has unfinished jobs",
                             {"name": exc.name, "unfinished": exc.unfinished})
        case Conflict():
            return Described(409, "conflict", "Conflict")
        case DatabaseProblem():
            return Described(503, "database-unavailable", "The database is unavailable")
        case DBAPIError():
            return Described(503, "database-unavailable", "The database is unavailable")
        case QbxmlError():
            return Described(422, "invalid-qbxml", "Invalid qbXML")
    return Described(500, "internal", "Internal error")


def item_problem(exc: Exception) -> dict[str, Any]:
    """The problem one item of a batch met (a job or a delivery refused by a retry, cancel or resolve by filter),
    in the shape of a problem+json body."""
    described = describe(exc)
    return {"type": TYPE_PREFIX + described.slug, "title": described.title, "status": described.status,
            "detail": str(exc), **described.fields}


def problem_response(status: int, slug: str, title: str, detail: str, instance: str | None = None,
                     **fields: Any) -> JSONResponse:
    body = Problem(type=TYPE_PREFIX + slug, title=title, status=status, detail=detail, instance=instance, **fields)
    headers = {"WWW-Authenticate": 'Bearer realm="qbwc-service"'} if status == 401 else None
    return JSONResponse(body.model_dump(mode="json"), status_code=status, media_type=MEDIA_TYPE, headers=headers)


def error_response(exc: Exception, instance: str | None = None) -> JSONResponse:
    described = describe(exc)
    if described.status >= 500:
        detail = "the database did not answer; try again later" if described.status == 503 else \
            "the service failed to answer this request; its log says why"
        log.error("request %s failed: %s", instance, type(exc).__name__, exc_info=exc)
    else:
        detail = str(exc)
    return problem_response(described.status, described.slug, described.title, detail, instance, **described.fields)


def install(app: FastAPI) -> None:
    """Answer every error of ``app`` as a problem."""

    async def known(request: Request, exc: Exception) -> JSONResponse:
        return error_response(exc, request.url.path)

    async def invalid_request(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [{"field": field_name(error["loc"][1:]) or str(error["loc"][0]), "in": str(error["loc"][0]),
                   "reason": error["msg"]} for error in exc.errors()]
        first = errors[0] if errors else {"field": "", "reason": "invalid request"}
        return problem_response(422, "invalid-request", "Invalid request", f"{first['field']}: {first['reason']}",
                                request.url.path, field=first["field"], reason=first["reason"], errors=errors)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        phrase = HTTPStatus(exc.status_code).phrase
        detail = exc.detail if isinstance(exc.detail, str) and exc.detail != phrase else phrase.lower()
        return problem_response(exc.status_code, phrase.lower().replace(" ", "-"), phrase, detail, request.url.path)

    app.add_exception_handler(QbwcError, known)
    app.add_exception_handler(QbxmlError, known)
    app.add_exception_handler(DBAPIError, known)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(HTTPException, http_error)
    app.add_middleware(AnswerUnexpected)


def field_name(loc: Sequence[int | str]) -> str:
    """A place in a request as the problems name it: jobs[3].request."""
    name = ""
    for part in loc:
        name += f"[{part}]" if isinstance(part, int) else f".{part}" if name else str(part)
    return name


class AnswerUnexpected:
    """An exception no handler knows: logged once with its traceback, answered 500 as a problem (when nothing
    was sent yet), and not raised further."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception as exc:
            if started:
                log.error("request %s failed after its answer began", scope.get("path"), exc_info=exc)
                return
            await error_response(exc, scope.get("path"))(scope, receive, send)
