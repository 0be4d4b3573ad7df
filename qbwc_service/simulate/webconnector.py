"""A simulated QuickBooks Web Connector: a test double that drives a Web Connector service over real HTTP.

It behaves like Intuit's QBWC 2.3 (a .NET ``SoapHttpClientProtocol``): SOAP 1.1, document/literal wrapped,
every element in ``http://developer.intuit.com/`` with the exact parameter names of Intuit's WSDL,
``Content-Type: text/xml; charset=utf-8`` and a quoted ``SOAPAction``. It hands each qbXML request to a
simulated QuickBooks company (``QuickBooksCompany``) where the real Web Connector calls QuickBooks.

``run_session`` plays one scheduled update the way QBWC does::

    serverVersion -> clientVersion -> authenticate
      -> (connectionError when the company file named is not the open one)
      -> sendRequestXML -> QuickBooks -> receiveResponseXML ... (until 100 or an error)
      -> closeConnection

and returns a ``SessionReport``; when the update ends, so does QuickBooks' session (open iterators are
forgotten, ``QuickBooksCompany.end_qb_session``). The per-operation methods (``authenticate``,
``send_request_xml``, ...) make one call each, so tests can also drive calls one by one and out of order.

The client keeps its HTTP connection alive between calls, as QBWC's .NET client does: it opens one
``httpx.Client`` on its first call and holds it until ``close()`` (or the end of a ``with`` block, or until
the client is garbage-collected); a client passed in as ``client=`` stays the caller's to close.

Like QBWC, the client refuses a reply that is not ``text/xml``, not well-formed, a SOAP Fault, or not the
expected ``<method>Response``: it raises ``WebConnectorError`` with the code QBWC shows for that call
(QBWC1012 for authenticate, QBWC1042 for receiveResponseXML, QBWC1013 for the other calls).
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

import httpx
from lxml import etree

from qbwc_service.simulate.quickbooks import MessageSetFailed, QuickBooksCompany, ResponseDropped

__all__ = ["Outcome", "SessionReport", "WebConnectorClient", "WebConnectorError"]

logger = logging.getLogger(__name__)

SOAP_NS: Final = "http://schemas.xmlsoap.org/soap/envelope/"
TNS: Final = "http://developer.intuit.com/"
XSI_NS: Final = "http://www.w3.org/2001/XMLSchema-instance"
XSD_NS: Final = "http://www.w3.org/2001/XMLSchema"

FILE_MODE_HRESULT: Final = "0x80040410"
FILE_MODE_MESSAGE: Final = (
    "The QuickBooks company data file is currently open in a mode other than the one specified by your "
    "application."
)
NOOP_PAUSE_SECONDS: Final = 5.0
_TIMEOUT: Final = httpx.Timeout(120.0)
_KEEPALIVE_EXPIRY: Final = 2.0
"""Seconds an idle connection is kept for reuse: below uvicorn's 5-second keep-alive timeout (and the NoOp
pause), so the client never sends on a connection the server is closing at that very moment. A connection
the server closed earlier is noticed before reuse and replaced."""

_ERROR_CODES: Final = {"authenticate": "QBWC1012", "receiveResponseXML": "QBWC1042"}
_DEFAULT_ERROR_CODE: Final = "QBWC1013"

Outcome = Literal[
    "done", "nothing-to-do", "nvu", "busy", "error", "connection-error", "client-version-refused"
]
"""How a session ended.

- ``done``: receiveResponseXML answered 100, closeConnection was called.
- ``nothing-to-do``: authenticate answered ``none``.
- ``nvu``, ``busy``: authenticate answered so.
- ``client-version-refused``: clientVersion answered ``E:`` or ``O:``.
- ``connection-error``: the company file authenticate named is not the open one; connectionError was called
  and the session stopped.
- ``error``: anything else that ended the session early: a negative percent, an error text from
  getLastError, a failed or lost message set, a reply QBWC refuses (``WebConnectorError``), or the
  ``max_calls`` / NoOp limits.
"""


class WebConnectorError(Exception):
    """A reply the real Web Connector would refuse, or an HTTP failure; ``code`` is QBWC's (``QBWC1012``)."""

    def __init__(self, code: str, method: str, detail: str, *, transport: bool = False) -> None:
        super().__init__(f"{code}: {method} failed. {detail}")
        self.code = code
        self.method = method
        self.detail = detail
        self.transport = transport
        """True when the service could not be reached at all (no HTTP answer)."""


@dataclass
class SessionReport:
    """What one ``run_session`` did, in the order it happened."""

    calls: list[tuple[str, str]] = field(default_factory=list)
    """(method, short summary of the call and its answer) for every SOAP call."""
    ticket: str = ""
    authenticate_result: list[str] = field(default_factory=list)
    message_sets: int = 0
    """qbXML message sets received from the service (and handed to QuickBooks)."""
    last_percent: int | None = None
    last_error: str = ""
    close_message: str = ""
    outcome: Outcome = "error"
    server_version: str = ""
    warnings: list[str] = field(default_factory=list)
    """``W:`` answers of clientVersion, and SOAP faults of serverVersion/clientVersion (QBWC goes on)."""


class _SessionEnded(Exception):
    def __init__(self, outcome: Outcome, error: str = "") -> None:
        super().__init__(outcome)
        self.outcome: Outcome = outcome
        self.error = error


class WebConnectorClient:
    """A simulated Web Connector (a test double) with one application entry: URL, user, password, company.

    ``sleep`` is called with 5 seconds for each NoOp pause (at most ``max_noop_rounds`` in a row);
    ``max_calls`` bounds the SOAP calls of one ``run_session``. Without ``client`` it opens its own HTTP
    client on the first call and reuses it (keep-alive) until ``close()``; use it as a context manager to
    close it at once. A given ``client`` is used as it is and never closed here.
    ``country`` is the qbXMLCountry it reports (by default the company's own country, as a real Web Connector
    does; another value plays a Web Connector that disagrees with QuickBooks).
    """

    def __init__(
        self,
        url: str,
        username: str,
        password: str,
        company: QuickBooksCompany,
        *,
        client: httpx.Client | None = None,
        version: str = "2.3.0.215",
        max_calls: int = 10000,
        sleep: Callable[[float], None] = time.sleep,
        max_noop_rounds: int = 12,
        country: str | None = None,
    ) -> None:
        self.url = url
        self.country = country
        self.username = username
        self.password = password
        self.company = company
        self.version = version
        self.max_calls = max_calls
        self.max_noop_rounds = max_noop_rounds
        self._sleep = sleep
        self._given = client
        self._own: httpx.Client | None = None
        """The client this Web Connector opened itself, on its first call; closed by ``close()``."""
        self._closer: weakref.finalize[[], WebConnectorClient] | None = None
        self._report: SessionReport | None = None

    def close(self) -> None:
        """Close the HTTP client this Web Connector opened (a later call opens a new one)."""
        if self._closer is not None:
            self._closer()  # closes self._own, once
        self._own = self._closer = None

    def __enter__(self) -> WebConnectorClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _http(self) -> httpx.Client:
        if self._given is not None:
            return self._given
        if self._own is None:
            self._own = httpx.Client(timeout=_TIMEOUT, limits=httpx.Limits(keepalive_expiry=_KEEPALIVE_EXPIRY))
            # A caller that never calls close() (a test driving single calls) must not leak the socket:
            # the client is closed when this Web Connector is garbage-collected, or at exit.
            self._closer = weakref.finalize(self, self._own.close)
        return self._own

    # ---- one SOAP call each ---------------------------------------------------------------------------

    def server_version(self) -> str:
        return self._text(self._call("serverVersion", []), "serverVersion")

    def client_version(self, version: str) -> str:
        return self._text(self._call("clientVersion", [("strVersion", version)]), "clientVersion")

    def authenticate(self, username: str, password: str) -> list[str]:
        result = self._call("authenticate", [("strUserName", username), ("strPassword", password)])
        if result is None:
            return []
        return [item.text or "" for item in result if item.tag == f"{{{TNS}}}string"]

    def send_request_xml(
        self,
        ticket: str,
        hcp_response: str,
        company_file_name: str,
        country: str,
        major_version: int,
        minor_version: int,
    ) -> str:
        result = self._call("sendRequestXML", [
            ("ticket", ticket),
            ("strHCPResponse", hcp_response),
            ("strCompanyFileName", company_file_name),
            ("qbXMLCountry", country),
            ("qbXMLMajorVers", str(major_version)),
            ("qbXMLMinorVers", str(minor_version)),
        ])
        return self._text(result, "sendRequestXML")

    def receive_response_xml(self, ticket: str, response: str, hresult: str, message: str) -> int:
        result = self._call("receiveResponseXML", [
            ("ticket", ticket), ("response", response), ("hresult", hresult), ("message", message),
        ])
        text = (result.text or "").strip() if result is not None else ""
        try:
            return int(text)
        except ValueError:
            raise WebConnectorError(
                _ERROR_CODES["receiveResponseXML"], "receiveResponseXML",
                f"receiveResponseXMLResult {text!r} is not an integer.",
            ) from None

    def connection_error(self, ticket: str, hresult: str, message: str) -> str:
        result = self._call("connectionError", [("ticket", ticket), ("hresult", hresult), ("message", message)])
        return self._text(result, "connectionError")

    def get_last_error(self, ticket: str) -> str:
        return self._text(self._call("getLastError", [("ticket", ticket)]), "getLastError")

    def close_connection(self, ticket: str) -> str:
        return self._text(self._call("closeConnection", [("ticket", ticket)]), "closeConnection")

    # ---- a whole scheduled update ------------------------------------------------------------------------

    def run_session(self) -> SessionReport:
        """One update, as QBWC runs it; never raises for what the service answers (see ``Outcome``)."""
        report = SessionReport()
        self._report = report
        try:
            self._run(report)
        except _SessionEnded as ended:
            report.outcome = ended.outcome
            report.last_error = ended.error or report.last_error
        except WebConnectorError as exc:
            report.outcome = "error"
            report.last_error = str(exc)
        finally:
            self._report = None
        logger.info("simulated Web Connector session ended: %s after %d calls (%d message sets)",
                    report.outcome, len(report.calls), report.message_sets)
        return report

    def _run(self, report: SessionReport) -> None:
        report.server_version = self._tolerated(report, self.server_version)
        answer = self._tolerated(report, lambda: self.client_version(self.version))
        if answer[:2].upper() in ("E:", "O:"):
            raise _SessionEnded("client-version-refused", answer)
        if answer[:2].upper() == "W:":
            report.warnings.append(answer[2:].strip())

        result = self.authenticate(self.username, self.password)
        report.authenticate_result = result
        if len(result) < 2:
            raise WebConnectorError(_ERROR_CODES["authenticate"], "authenticate",
                                    "Index was outside the bounds of the array.")
        ticket, answer = result[0], result[1]
        report.ticket = ticket
        verdict = answer.strip().lower()
        if verdict == "nvu":
            if ticket:
                report.close_message = self.close_connection(ticket)
            raise _SessionEnded("nvu", "The username or password is not valid (nvu).")
        if verdict in ("none", "busy"):
            report.close_message = self.close_connection(ticket)
            raise _SessionEnded("nothing-to-do" if verdict == "none" else "busy")
        self._open_company_file(ticket, answer)
        try:
            self._exchange(report, ticket)
        finally:
            # QBWC ends its QuickBooks session when the update ends, however it ends: the iterators
            # QuickBooks held for this update go with it.
            self.company.end_qb_session()

    def _tolerated(self, report: SessionReport, call: Callable[[], str]) -> str:
        """serverVersion and clientVersion: QBWC carries on when the service does not implement them."""
        try:
            return call()
        except WebConnectorError as exc:
            if exc.transport:
                raise
            report.warnings.append(str(exc))
            return ""

    def _open_company_file(self, ticket: str, path: str) -> None:
        """Where QBWC opens the company file authenticate named ("" = the one open in QuickBooks)."""
        for _attempt in range(2):
            if not path or path.strip().casefold() == self.company.company_file.casefold():
                return
            answer = self.connection_error(ticket, FILE_MODE_HRESULT, FILE_MODE_MESSAGE)
            if answer.strip().lower() == "done":
                break
            path = answer
        raise _SessionEnded("connection-error", f"{FILE_MODE_HRESULT}: {FILE_MODE_MESSAGE}")

    def _exchange(self, report: SessionReport, ticket: str) -> None:
        major, minor = (int(part) for part in self.company.highest_version.split(".")[:2])
        first = True
        noop_rounds = 0
        while True:
            if len(report.calls) >= self.max_calls:
                report.close_message = self.close_connection(ticket)
                raise _SessionEnded("error", f"stopped after max_calls={self.max_calls} SOAP calls")
            request = self.send_request_xml(
                ticket, self.company.hcp_response() if first else "", self.company.company_file,
                self.country or self.company.country, major, minor,
            )
            first = False
            if request.strip() in ("", "NoOp"):
                text = self.get_last_error(ticket)
                if text.strip().casefold() != "noop":
                    report.last_error = text
                    report.close_message = self.close_connection(ticket)
                    raise _SessionEnded("error", text)
                noop_rounds += 1
                if noop_rounds > self.max_noop_rounds:
                    report.close_message = self.close_connection(ticket)
                    raise _SessionEnded("error", f"still NoOp after {self.max_noop_rounds} pauses")
                self._sleep(NOOP_PAUSE_SECONDS)
                continue
            noop_rounds = 0
            report.message_sets += 1
            try:
                response, hresult, message = self.company.process(request), "", ""
            except ResponseDropped as exc:
                raise _SessionEnded("error", f"the response to message set {report.message_sets} was lost") from exc
            except MessageSetFailed as exc:
                response, hresult, message = "", exc.hresult, exc.message
            percent = self.receive_response_xml(ticket, response, hresult, message)
            report.last_percent = percent
            if percent >= 100:
                report.close_message = self.close_connection(ticket)
                report.outcome = "done"
                return
            if percent < 0:
                text = self.get_last_error(ticket)
                report.close_message = self.close_connection(ticket)
                raise _SessionEnded("error", text or (f"{hresult}: {message}" if hresult else ""))

    # ---- SOAP ---------------------------------------------------------------------------------------------

    def _call(self, method: str, params: Sequence[tuple[str, str]]) -> etree._Element | None:
        """POST one SOAP call; the ``<method>Result`` element of the answer (None when absent)."""
        code = _ERROR_CODES.get(method, _DEFAULT_ERROR_CODE)
        body = _envelope(method, params)
        headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{TNS}{method}"'}
        try:
            reply = self._http().post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise WebConnectorError(code, method, f"HTTP transport error: {exc}", transport=True) from exc
        result = _result(reply, method, code)
        self._note(method, params, result)
        return result

    @staticmethod
    def _text(result: etree._Element | None, method: str) -> str:
        # .NET returns null for an absent or nil element; QBWC then treats it as "".
        if result is None:
            return ""
        return result.text or ""

    def _note(self, method: str, params: Sequence[tuple[str, str]], result: etree._Element | None) -> None:
        shown = {name: value for name, value in params if name not in ("strPassword", "strHCPResponse", "response")}
        if method == "sendRequestXML":
            shown["strHCPResponse"] = f"{len(dict(params)['strHCPResponse'])} chars"
        if method == "receiveResponseXML":
            shown["response"] = f"{len(dict(params)['response'])} chars"
        if result is None:
            answer = "(no result)"
        elif len(result):
            answer = repr([item.text or "" for item in result])
        else:
            text = result.text or ""
            answer = repr(text if len(text) <= 80 else f"{text[:77]}...")
        summary = " ".join(f"{k}={_short(v)}" for k, v in shown.items()) + f" -> {answer}"
        logger.debug("simulated Web Connector %s %s", method, summary)
        if self._report is not None:
            self._report.calls.append((method, summary))


def _short(value: str) -> str:
    return repr(value if len(value) <= 40 else f"{value[:37]}...")


def _envelope(method: str, params: Sequence[tuple[str, str]]) -> bytes:
    envelope = etree.Element(f"{{{SOAP_NS}}}Envelope", nsmap={"soap": SOAP_NS, "xsi": XSI_NS, "xsd": XSD_NS})
    body = etree.SubElement(envelope, f"{{{SOAP_NS}}}Body")
    operation = etree.SubElement(body, f"{{{TNS}}}{method}", nsmap={None: TNS})  # type: ignore[dict-item]
    for name, value in params:
        etree.SubElement(operation, f"{{{TNS}}}{name}").text = value
    return bytes(etree.tostring(envelope, xml_declaration=True, encoding="utf-8"))


def _result(reply: httpx.Response, method: str, code: str) -> etree._Element | None:
    content_type = reply.headers.get("content-type", "")
    if not content_type.lower().startswith("text/xml"):
        raise WebConnectorError(code, method, (
            f"Client found response content type of '{content_type}', but expected 'text/xml'. "
            f"(HTTP {reply.status_code})"
        ))
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(reply.content, parser)
    except etree.XMLSyntaxError as exc:
        raise WebConnectorError(code, method, f"The response is not well-formed XML: {exc}") from exc
    body = root.find(f"{{{SOAP_NS}}}Body")
    if root.tag != f"{{{SOAP_NS}}}Envelope" or body is None or len(body) == 0:
        raise WebConnectorError(code, method, "The response is not a SOAP 1.1 envelope with a body.")
    answer = body[0]
    if answer.tag == f"{{{SOAP_NS}}}Fault":
        fault = answer.findtext("faultstring") or answer.findtext("faultcode") or "(no faultstring)"
        raise WebConnectorError(code, method, f"SOAP Fault: {fault.strip()}")
    if reply.status_code != 200:
        raise WebConnectorError(code, method, f"HTTP {reply.status_code} without a SOAP Fault.")
    if answer.tag != f"{{{TNS}}}{method}Response":
        raise WebConnectorError(code, method, (
            f"<{etree.QName(answer).localname} xmlns='{etree.QName(answer).namespace or ''}'> was not "
            f"expected; expected <{method}Response xmlns='{TNS}'>."
        ))
    result = answer.find(f"{{{TNS}}}{method}Result")
    if result is not None and result.get(f"{{{XSI_NS}}}nil") == "true":
        return None
    return result
