"""The setup wizard, one page per connection, in the five steps of pairing a Web Connector: get the Web Connector
and the .qwc, the token, test connection, authorise in QuickBooks, test access. Each step says whether it is done,
waiting or failed, and what to do next; the states come from the same use cases as the API's tests
(``connection_usecases.check_connection``, ``connection_usecases.access_test``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from qbwc_service import connection_usecases, connections, usecases
from qbwc_service.api.connections import qwc_attachment
from qbwc_service.api.problems import describe
from qbwc_service.db.enums import AuthOutcome, JobStatus
from qbwc_service.errors import QbwcError
from qbwc_service.web.base import Action, PageRefused, actor, pages_of, path_part, redirect, viewer, when
from qbwc_service.web.session import Visitor

router = APIRouter(include_in_schema=False)

WEB_CONNECTOR_DOWNLOAD = ("https://developer.intuit.com/app/developer/qbdesktop/docs/get-started/"
                          "get-started-with-quickbooks-web-connector")
AUTHORISE_CHOICE = "Yes, always; allow access even if QuickBooks is not running"


class StepState(StrEnum):
    DONE = "done"
    WAITING = "waiting"
    FAILED = "failed"


@dataclass(frozen=True)
class Step:
    number: int
    anchor: str
    title: str
    state: StepState
    next: str
    facts: list[tuple[str, str]] = field(default_factory=list)


def steps_of(check: connection_usecases.ConnectionCheck, access: connection_usecases.AccessTest) -> list[Step]:
    """The five steps' states, from what the connection row and its newest probe say."""
    c = check.connection
    refused = check.authenticated is False
    if check.reached:
        get = Step(1, "web-connector", "Get the Web Connector and the .qwc", StepState.DONE,
                   "The Web Connector has called this service with this connection's .qwc.",
                   [("Web Connector version", c.client_version or "not reported")])
    else:
        get = Step(1, "web-connector", "Get the Web Connector and the .qwc", StepState.WAITING,
                   "Install the Web Connector on the Windows computer beside QuickBooks, download this connection's "
                   ".qwc file, and open it there (File > Add an application).")
    if c.revoked_at is not None:
        token = Step(2, "token", "Generate the token", StepState.FAILED,
                     "The token is revoked: make a new one and type it in the Web Connector.")
    elif refused:
        token = Step(2, "token", "Generate the token", StepState.FAILED, check.advice)
    elif c.last_auth_at is not None and (c.token_created_at is None or c.last_auth_at >= c.token_created_at):
        token = Step(2, "token", "Generate the token", StepState.DONE,
                     "The Web Connector signed in with this token.")
    else:
        token = Step(2, "token", "Generate the token", StepState.WAITING,
                     "Type the token as the application's password in the Web Connector (the Password column), "
                     "and save it when asked.")
    facts = [("Last attempt", when(check.last_attempt_at)), ("Outcome", str(check.outcome or "none yet")),
             ("Web Connector version", c.client_version or "not reported")]
    if not check.reached:
        test = Step(3, "connection", "Test connection", StepState.WAITING, check.advice, facts)
    elif refused or check.outcome == AuthOutcome.LOCKED:
        test = Step(3, "connection", "Test connection", StepState.FAILED, check.advice, facts)
    else:
        test = Step(3, "connection", "Test connection", StepState.DONE,
                    "The Web Connector reaches the service and its authentication passed.", facts)
    authorise_facts = [("QuickBooks last answered", when(c.last_exchange_at))]
    if c.last_connection_error:
        authorise_facts.append(("Last error the Web Connector reported", c.last_connection_error))
    if c.last_exchange_at is not None:
        authorise = Step(4, "authorise", "Authorise in QuickBooks", StepState.DONE,
                         "QuickBooks lets this application in.", authorise_facts)
    elif c.last_connection_error:
        authorise = Step(4, "authorise", "Authorise in QuickBooks", StepState.FAILED, c.last_connection_error,
                         authorise_facts)
    else:
        authorise = Step(4, "authorise", "Authorise in QuickBooks", StepState.WAITING,
                         "With QuickBooks open on the company file, as its administrator, press Update Selected in "
                         "the Web Connector. QuickBooks asks whether to let the application in: choose "
                         f"\"{AUTHORISE_CHOICE}\", then Continue, and Done.", authorise_facts)
    return [get, token, test, authorise, _access_step(access)]


def _access_step(access: connection_usecases.AccessTest) -> Step:
    job, result = access.job, access.result
    title = "Test access"
    if job is None:
        return Step(5, "access", title, StepState.WAITING, "Queue the probe, then press Update Selected in the Web "
                    "Connector: it reads the company's name, product, country and qbXML version.")
    facts = [("Probe", f"job {job.id}, {job.status}")]
    if job.status == JobStatus.DONE:
        facts += [("Company", str(result.get("company_name") or "")), ("Product", str(result.get("product") or "")),
                  ("Country", str(result.get("country") or "")),
                  ("qbXML version", str(result.get("highest_version") or ""))]
        return Step(5, "access", title, StepState.DONE, "The service reads and writes this QuickBooks company: "
                    "the setup is complete.", facts)
    if job.status in (JobStatus.QUEUED, JobStatus.SENT, JobStatus.FAILED):
        return Step(5, "access", title, StepState.WAITING, "The probe is queued: press Update Selected in the Web "
                    "Connector (or wait for its next scheduled run), then check again.", facts)
    return Step(5, "access", title, StepState.FAILED, job.status_message or f"The probe ended {job.status}: queue "
                "it again.", facts)


def _wizard(request: Request, name: str, *, token: str | None = None, status: int = 200,
            error: str | None = None) -> Response:
    pages = pages_of(request)
    with pages.context.read() as db:
        try:
            check = connection_usecases.check_connection(db, name, pages.context.clock)
            access = connection_usecases.access_test(db, name)
        except QbwcError as exc:
            raise PageRefused(describe(exc).status, "Not found", str(exc)) from exc
        steps = steps_of(check, access)
        return pages.render(request, "wizard.html", status, connection=check.connection, steps=steps, token=token,
                            error=error, download=WEB_CONNECTOR_DOWNLOAD, choice=AUTHORISE_CHOICE,
                            soap_url=pages.context.settings.qbwc_url)


@router.get("/connections/{name}")
def wizard(name: str, request: Request, visitor: Annotated[Visitor, Depends(viewer)]) -> Response:
    return _wizard(request, name)


@router.post("/connections")
def create_connection(request: Request, action: Annotated[Action, Depends(actor)]) -> Response:
    pages = pages_of(request)
    name = str(action.form.get("name") or "").strip()
    try:
        with pages.context.write() as db:
            made = connection_usecases.create_connection(db, name, pages.context.clock)
    except QbwcError as exc:
        raise PageRefused(describe(exc).status, "Not created", str(exc)) from exc
    return _wizard(request, made.connection.name, token=made.token, status=201)


@router.post("/connections/{name}/token")
def rotate_token(name: str, request: Request, action: Annotated[Action, Depends(actor)]) -> Response:
    pages = pages_of(request)
    if action.form.get("confirm") != "yes":
        return _wizard(request, name, status=422, error="Tick the box to confirm: the token in use stops working "
                       "at once. Nothing was changed.")
    try:
        with pages.context.write() as db:
            made = connection_usecases.rotate_token(db, name, pages.context.clock)
    except QbwcError as exc:
        raise PageRefused(describe(exc).status, "Not changed", str(exc)) from exc
    return _wizard(request, made.connection.name, token=made.token)


@router.post("/connections/{name}/access-test")
def start_access_test(name: str, request: Request, action: Annotated[Action, Depends(actor)]) -> Response:
    pages = pages_of(request)
    try:
        with pages.context.write() as db:
            usecases.enqueue_probe(db, pages.context.job_queue, name)
    except QbwcError as exc:
        raise PageRefused(describe(exc).status, "Not queued", str(exc)) from exc
    return redirect(f"/connections/{path_part(name)}", queued="probe")


@router.get("/connections/{name}/qwc")
def download_qwc(name: str, request: Request, visitor: Annotated[Visitor, Depends(viewer)]) -> Response:
    pages = pages_of(request)
    with pages.context.read() as db:
        try:
            text = connections.render_qwc(connections.get_connection(db, name), pages.context.settings)
        except QbwcError as exc:
            raise PageRefused(describe(exc).status, "Not found", str(exc)) from exc
    return qwc_attachment(name, text)
