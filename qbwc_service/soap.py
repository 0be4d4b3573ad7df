"""The Web Connector's SOAP contract and its guard: Intuit's 11 operations, their exact names, and the
checks a request passes before spyne parses it.

Each operation delegates to :class:`qbwc_service.sessions.WebConnectorSessions`. An unexpected error
is logged with the ticket and answered with a protocol value, never a fault page. :func:`guard_soap`
refuses empty and oversized bodies, other media types, charsets other than UTF-8, UTF-16 and ISO-8859-1,
and any DTD with a SOAP fault (:func:`soap_fault`), and gives spyne the body in UTF-8
(:mod:`qbwc_service.soap_body`). :class:`LargeBodies` says which requests may be large: receiveResponseXML
under a live session. :mod:`qbwc_service.soap_transport` serves the guarded app over HTTP.

The WSDL's address is ``<public_url>/qbwc``, built once with the app: never the Host header of a request.
"""

from __future__ import annotations

import io
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any, TypeVar
from xml.sax.saxutils import escape

from spyne import Application, Array, Fault, Integer, ServiceBase, Unicode, const, rpc
from spyne.protocol.soap import Soap11
from spyne.server.wsgi import WsgiApplication

from qbwc_service.db.faults import is_transient
from qbwc_service.logs import quiet_spyne
from qbwc_service.outages import CUT_OFF_BY_THE_DATABASE, DATABASE_UNREACHABLE
from qbwc_service.sessions import WebConnectorSessions
from qbwc_service.soap_body import SPYNE_CONTENT_TYPE, BodyRefused, first_call, readable_body

log = logging.getLogger(__name__)

TNS = "http://developer.intuit.com/"
LARGE_OPERATION = "receiveResponseXML"
"""The one call whose body may be large: QuickBooks' answer."""
_DOTTED_VERSION = re.compile(r"\d+(?:\.\d+)*")
T = TypeVar("T")
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class _ClientVersions:
    """clientVersion arrives before authenticate and carries no user; remember it per address briefly
    so authenticate can record which Web Connector version a connection uses. Not authoritative: only a dotted
    version of at most 40 characters (the column it is kept in) is remembered, so an unauthenticated caller can
    neither make the service hold 64 KiB per address nor break the next authenticate from its address."""

    def __init__(self, size: int = 1024, ttl: float = 300.0) -> None:
        self._seen: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._size, self._ttl = size, ttl
        self._lock = threading.Lock()

    def remember(self, address: str, version: str) -> None:
        if len(version) > 40 or not _DOTTED_VERSION.fullmatch(version):
            return
        with self._lock:
            self._seen[address] = (time.monotonic(), version)
            self._seen.move_to_end(address)
            while len(self._seen) > self._size:
                self._seen.popitem(last=False)

    def recall(self, address: str) -> str | None:
        with self._lock:
            entry = self._seen.get(address)
        if entry is None or time.monotonic() - entry[0] > self._ttl:
            return None
        return entry[1]


def _guard(ticket: str | None, fallback: T, call: Callable[[], T], outage: Callable[[], T] | None = None) -> T:
    """``call()``; on an unexpected error, ``fallback``, logged with its traceback. When the database failed (and
    the call was made again until its time ran out), ``outage()`` instead, when given: what the Web Connector
    shows then."""
    try:
        return call()
    except Exception as exc:
        if is_transient(exc):
            log.warning("the database failed a Web Connector call", extra={"ticket": ticket})
            if outage is not None:
                return outage()
            return fallback
        log.exception("unexpected error answering the Web Connector", extra={"ticket": ticket})
        return fallback


def _database_unreachable() -> list[str]:
    """authenticate while the database is out: a SOAP fault, which the Web Connector shows (QBWC1012,
    "Authentication failed due to following error message", then this text); "busy" would send the user
    looking for another update that is not running."""
    raise Fault(faultcode="Server", faultstring=DATABASE_UNREACHABLE)


def _address(ctx: Any) -> str:
    env = getattr(ctx.transport, "req_env", None) or {}
    return str(env.get("REMOTE_ADDR", ""))


def build_soap_app(protocol: WebConnectorSessions, max_body_bytes: int, address: str) -> WsgiApplication:
    """The Web Connector's SOAP service, its WSDL naming ``address`` (``<public_url>/qbwc``).

    spyne ends every call with a full ``gc.collect()`` at most once a second (``MIN_GC_INTERVAL``): in a
    process holding a large heap that pause was the largest single cost of a call. Python's own generational
    collector still runs; spyne's extra one is turned off."""
    quiet_spyne()
    const.MIN_GC_INTERVAL = float("inf")
    versions = _ClientVersions()

    class QBWebConnectorSvc(ServiceBase):  # type: ignore[misc]
        @rpc(_returns=Unicode)
        def serverVersion(ctx):
            return _guard(None, "", protocol.server_version)

        @rpc(Unicode, _returns=Unicode)
        def clientVersion(ctx, strVersion):
            if strVersion:
                versions.remember(_address(ctx), strVersion)
            return _guard(None, "", lambda: protocol.client_version(strVersion))

        @rpc(Unicode, Unicode, _returns=Array(Unicode))
        def authenticate(ctx, strUserName, strPassword):
            seen = versions.recall(_address(ctx))
            return _guard(None, ["", "busy"], lambda: protocol.authenticate(
                strUserName, strPassword, seen, _address(ctx)), _database_unreachable)

        @rpc(Unicode, Unicode, Unicode, Unicode, Integer, Integer, _returns=Unicode)
        def sendRequestXML(
            ctx, ticket, strHCPResponse, strCompanyFileName, qbXMLCountry, qbXMLMajorVers, qbXMLMinorVers
        ):
            return _guard(ticket, "", lambda: protocol.send_request_xml(
                ticket, strHCPResponse, strCompanyFileName, qbXMLCountry, qbXMLMajorVers, qbXMLMinorVers))

        @rpc(Unicode, Unicode, Unicode, Unicode, _returns=Integer)
        def receiveResponseXML(ctx, ticket, response, hresult, message):
            return _guard(ticket, -1, lambda: protocol.receive_response_xml(ticket, response, hresult, message))

        @rpc(Unicode, Unicode, Unicode, _returns=Unicode)
        def connectionError(ctx, ticket, hresult, message):
            return _guard(ticket, "done", lambda: protocol.connection_error(ticket, hresult, message))

        @rpc(Unicode, _returns=Unicode)
        def getLastError(ctx, ticket):
            return _guard(ticket, "The service had an unexpected error; see its log.",
                          lambda: protocol.get_last_error(ticket), lambda: CUT_OFF_BY_THE_DATABASE)

        @rpc(Unicode, _returns=Unicode)
        def closeConnection(ctx, ticket):
            return _guard(ticket, "Closed.", lambda: protocol.close_connection(ticket),
                          lambda: CUT_OFF_BY_THE_DATABASE)

        @rpc(Unicode, Unicode, _returns=Unicode)
        def getInteractiveURL(ctx, wcTicket, sessionID):
            # Interactive mode is never requested: getLastError never answers "Interactive mode".
            return ""

        @rpc(Unicode, _returns=Unicode)
        def interactiveDone(ctx, wcTicket):
            return "Done"

        @rpc(Unicode, Unicode, _returns=Unicode)
        def interactiveRejected(ctx, wcTicket, reason):
            return "Interactive mode is not used by this service."

    application = Application(
        [QBWebConnectorSvc],
        tns=TNS,
        name="QBWebConnectorSvc",
        in_protocol=Soap11(validator="lxml", huge_tree=True),
        out_protocol=Soap11(),
    )
    # spyne's own cap (2 MiB by default) would refuse a big query answer; the size limit is guard_soap's.
    wsgi = WsgiApplication(application, max_content_length=max_body_bytes + 1)
    # spyne builds its WSDL on the first request for it, from that request's Host header, and keeps it: built
    # here, the address is the configured one, whatever a request says.
    wsgi.doc.wsdl11.build_interface_document(address)
    return wsgi


class LargeBodies:
    """Which requests may carry a body over the small cap: receiveResponseXML alone (QuickBooks' answer), and
    only under the ticket of a live session, its first field. So no request without a live ticket is read, or
    parsed, past the small cap, whatever it says it is."""

    def __init__(self, protocol: WebConnectorSessions, small_cap: int) -> None:
        self._protocol, self._small_cap = protocol, small_cap

    def action_may_be_large(self, soap_action: str | None) -> bool:
        """False when the SOAPAction header names another call: refused by its Content-Length alone."""
        return soap_action is None or soap_action.strip().strip('"') in ("", f"{TNS}{LARGE_OPERATION}")

    def refusal(self, head: bytes, content_type: str | None) -> str | None:
        call = first_call(head, content_type)
        if call.operation != f"{{{TNS}}}{LARGE_OPERATION}":
            return f"The request body is larger than the {self._small_cap}-byte limit of every call but " \
                   f"{LARGE_OPERATION}."
        if call.first_field != f"{{{TNS}}}ticket" or not self._protocol.holds_session(call.first_text):
            return f"The request body is larger than the {self._small_cap}-byte limit, and only the ticket of a " \
                   "live session allows more."
        return None


def soap_fault(code: str, text: str) -> bytes:
    """A SOAP 1.1 fault whose faultcode is ``code`` (``Client``: the request was at fault) and faultstring ``text``."""
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<soap11env:Envelope xmlns:soap11env="http://schemas.xmlsoap.org/soap/envelope/">'
        f"<soap11env:Body><soap11env:Fault><faultcode>soap11env:{code}</faultcode>"
        f"<faultstring>{escape(text)}</faultstring></soap11env:Fault></soap11env:Body></soap11env:Envelope>"
    ).encode()


def guard_soap(app: WsgiApp, max_body: int) -> WsgiApp:
    """Refuses empty and oversized bodies, other media types, other charsets and any DTD (entity bombs) before
    spyne parses anything, and hands spyne the body in UTF-8, naming no charset (:func:`readable_body`)."""

    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "POST":
            return app(environ, start_response)
        declared = environ.get("CONTENT_LENGTH") or ""
        if declared.isdigit() and int(declared) > max_body:
            return _refuse(start_response, "413 Request Entity Too Large",
                           f"The request body is larger than the {max_body}-byte limit.")
        body = environ["wsgi.input"].read(max_body + 1)
        if len(body) > max_body:
            return _refuse(start_response, "413 Request Entity Too Large",
                           f"The request body is larger than the {max_body}-byte limit.")
        if not body.strip():
            # spyne would raise StopIteration out of its parser on an empty body.
            return _refuse(start_response, "400 Bad Request",
                           "The request has no body; the Web Connector posts a SOAP message here.")
        try:
            body = readable_body(body, environ.get("CONTENT_TYPE"))
        except BodyRefused as exc:
            return _refuse(start_response, f"{exc.status} {HTTPStatus(exc.status).phrase}", exc.text)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ["CONTENT_TYPE"] = SPYNE_CONTENT_TYPE
        return app(environ, start_response)

    return guarded


def _refuse(start_response: Callable[..., Any], status: str, text: str) -> list[bytes]:
    body = soap_fault("Client", text)
    start_response(status, [("Content-Type", "text/xml; charset=utf-8"), ("Content-Length", str(len(body)))])
    return [body]
