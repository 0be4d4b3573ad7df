"""The exceptions of the simulated QuickBooks company (re-exported by ``quickbooks.py``, which draws the tree).

Part of the simulated QuickBooks Desktop company (a test double, see ``quickbooks.py``).
"""

from __future__ import annotations

from typing import Final

PARSE_ERROR_HRESULT: Final = "0x80040400"
PARSE_ERROR_MESSAGE: Final = "QuickBooks found an error when parsing the provided XML text stream."


class MessageSetFailed(Exception):
    """QuickBooks failed a whole message set: ``ProcessRequest`` raised, nothing in the set was applied.

    The Web Connector passes ``hresult`` and ``message`` to ``receiveResponseXML`` with an empty response.
    """

    def __init__(self, hresult: str, message: str) -> None:
        super().__init__(f"{hresult}: {message}")
        self.hresult = hresult
        self.message = message


class QuickBooksParseError(MessageSetFailed):
    """The message set is not well-formed qbXML, or asks for a qbXML version QuickBooks does not support."""

    def __init__(self, detail: str = "") -> None:
        super().__init__(PARSE_ERROR_HRESULT, PARSE_ERROR_MESSAGE)
        self.detail = detail


class ResponseDropped(Exception):
    """Fault injection: the message set was applied, but its answer is lost on the way back.

    ``response`` is the answer that would have been returned (for assertions only; nobody received it).
    """

    def __init__(self, response: str) -> None:
        super().__init__("the simulated QuickBooks response was dropped")
        self.response = response


class CompanyFileError(Exception):
    """A seed or saved company file cannot be read: not JSON, not a company, or a record QuickBooks refuses."""
