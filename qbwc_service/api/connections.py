"""/connections: create, list, the token, the company-file pin, the .qwc, the two tests, the options."""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Header, Request, Response

from mappings.options import IntegrationOptions
from qbwc_service import connection_usecases, connections, queue, usecases
from qbwc_service.api.context import context_of
from qbwc_service.api.schemas import (
    AccessTestOut,
    ConnectionCheckOut,
    ConnectionIn,
    ConnectionOut,
    EnqueuedOut,
    NewTokenOut,
    OptionsPatch,
    UnpinnedOut,
)

router = APIRouter(prefix="/connections", tags=["connections"])

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=255, description=(
    "The job's idempotency key: the same key with the same request makes no second job (the first is answered, "
    "200); with another request, 422."))]


@router.post("", status_code=201, response_model=NewTokenOut, summary="Create a connection",
             description="A new connection and its Web Connector token, shown this once.")
def create_connection(body: ConnectionIn, request: Request) -> NewTokenOut:
    context = context_of(request)
    with context.write() as db:
        made = connection_usecases.create_connection(db, body.name, context.clock)
        return NewTokenOut(name=made.connection.name, username=made.connection.username, token=made.token,
                          unpinned_company_file=None)


@router.get("", response_model=list[ConnectionOut], summary="List the connections")
def list_connections(request: Request) -> list[ConnectionOut]:
    with context_of(request).read() as db:
        return [ConnectionOut.of(c, queue.count_by_status(db, c.id)) for c in connections.list_connections(db)]


@router.get("/{name}", response_model=ConnectionOut, summary="Show a connection")
def show_connection(name: str, request: Request) -> ConnectionOut:
    with context_of(request).read() as db:
        found = connections.get_connection(db, name)
        return ConnectionOut.of(found, queue.count_by_status(db, found.id))


@router.post("/{name}/token", response_model=NewTokenOut, summary="Rotate the token",
             description="A new token, shown this once; the old one stops working at once, and the company-file pin "
             "is lifted (a new pairing, e.g. on another computer). Documents already sent stay linked.")
def rotate_token(name: str, request: Request) -> NewTokenOut:
    context = context_of(request)
    with context.write() as db:
        made = connection_usecases.rotate_token(db, name, context.clock)
        return NewTokenOut(name=made.connection.name, username=made.connection.username, token=made.token,
                           unpinned_company_file=made.unpinned)


@router.delete("/{name}/token", status_code=204, summary="Revoke the token",
               description="The Web Connector is refused until a new token is made.")
def revoke_token(name: str, request: Request) -> Response:
    context = context_of(request)
    with context.write() as db:
        connection_usecases.revoke_token(db, name, context.clock)
    return Response(status_code=204)


@router.post("/{name}/unpin", response_model=UnpinnedOut, summary="Unpin the company file",
             description="Forget the pinned company file, keeping the token: the next session pins the file it "
             "opens.")
def unpin(name: str, request: Request) -> UnpinnedOut:
    context = context_of(request)
    with context.write() as db:
        unpinned = connection_usecases.unpin_company_file(db, name, context.clock)
        return UnpinnedOut(name=unpinned.connection.name, unpinned_company_file=unpinned.company_file)


@router.get("/{name}/qwc", summary="Download the .qwc file", response_class=Response,
            responses={200: {"content": {"application/xml": {}}, "description": "The .qwc file to open in the Web "
                                                                                 "Connector."}})
def download_qwc(name: str, request: Request) -> Response:
    context = context_of(request)
    with context.read() as db:
        text = connections.render_qwc(connections.get_connection(db, name), context.settings)
    return qwc_attachment(name, text)


def qwc_attachment(name: str, text: str) -> Response:
    """A connection's .qwc as a download named after it (the API's and the wizard's)."""
    plain = re.sub(r"[^A-Za-z0-9._-]+", "_", name) or "connection"
    return Response(text, media_type="application/xml", headers={
        "Content-Disposition": f"attachment; filename=\"{plain}.qwc\"; filename*=UTF-8''{quote(name)}.qwc"})


@router.get("/{name}/connection-test", response_model=ConnectionCheckOut, summary="Test connection",
            description="Has the Web Connector reached the service, when, with which version, and did its "
                        "authentication pass; and what to do next.")
def connection_test(name: str, request: Request) -> ConnectionCheckOut:
    with context_of(request).read() as db:
        return ConnectionCheckOut.of(connection_usecases.check_connection(db, name))


@router.post("/{name}/access-test", status_code=201, response_model=EnqueuedOut, summary="Test access: queue the probe",
             description="Queue the read-only probe (HostQuery + CompanyQuery); GET the same path reports it once "
                         "the Web Connector has run.")
def start_access_test(name: str, request: Request, response: Response,
                      idempotency_key: IdempotencyKey = None) -> EnqueuedOut:
    context = context_of(request)
    with context.write() as db:
        made = usecases.enqueue_probe(db, context.job_queue, name, key=idempotency_key)
        response.status_code = 201 if made.created else 200
        return EnqueuedOut.of(made)


@router.get("/{name}/access-test", response_model=AccessTestOut, summary="Test access: the probe's result",
            description="The newest probe: its status and, once done, the company, product, country and qbXML "
                        "version QuickBooks reported.")
def access_test(name: str, request: Request) -> AccessTestOut:
    with context_of(request).read() as db:
        return AccessTestOut.of(connection_usecases.access_test(db, name))


@router.get("/{name}/options", response_model=IntegrationOptions, summary="Read the options")
def read_options(name: str, request: Request) -> IntegrationOptions:
    with context_of(request).read() as db:
        return connection_usecases.connection_options(db, name)


@router.patch("/{name}/options", response_model=IntegrationOptions, summary="Change the options",
              description="Set and unset options; the result is validated as a whole before it is saved. A refusal "
                          "is 422 with the option in `field` and why in `reason`.")
def update_options(name: str, body: OptionsPatch, request: Request) -> Any:
    with context_of(request).write() as db:
        return connection_usecases.update_options(db, name, set_values=list(body.set.items()), unset=body.unset)
