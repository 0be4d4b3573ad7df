"""What a QuickBooks status code or hresult means for a job: the one table of policy."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class StatusCode(StrEnum):
    """The QuickBooks status codes the service decides on by name."""

    OK = "0"
    NO_MATCH = "1"  # a query found nothing
    NAME_IN_USE = "3100"
    OBJECT_NOT_FOUND = "3120"  # the object the request names does not exist (or, for a custom field, is not defined)
    INVALID_REFERENCE = "3140"  # the request names something QuickBooks lacks
    NOT_SAVED = "3180"  # "There was an error when saving": a lock, or a custom field value that exists already
    STALE_EDIT_SEQUENCE = "3200"
    INVALID_ITERATOR = "3391"


def answered(code: str) -> bool:
    """QuickBooks did what was asked: OK, or a query that matched nothing."""
    return code in (StatusCode.OK, StatusCode.NO_MATCH)


class Action(StrEnum):
    DONE = "done"  # the request did what it was asked
    EMPTY = "empty"  # a query matched nothing: an empty result, not an error
    LINK_EXISTING = "link-existing"  # the name exists already: link to it, do not create twice
    CREATE_DEPENDENCY = "create-dependency"  # a referenced object is missing
    REQUERY = "requery"  # stale EditSequence: read again, then retry
    RETRY = "retry"  # transient (record locked, in use): retry with backoff
    DEAD = "dead"  # permanent: a person must act


@dataclass(frozen=True)
class Verdict:
    action: Action
    hint: str


_DEAD_HINTS = {
    "3000": "An object id in the request is not a valid QuickBooks id.",
    "3070": "A text value is longer than QuickBooks allows for that field.",
    "3120": "The object the request names was not found in QuickBooks (deleted or never created).",
    "3150": "The request lacks an element QuickBooks requires.",
    "3171": "The transaction date is before the company's closing date; change the date or the closing date.",
    "3210": "QuickBooks refused a value in the request (for example an amount or a date it does not "
    "allow); correct the document and retry the job.",
    "3250": "This feature is off or not available in this QuickBooks edition; enable it in QuickBooks "
    "preferences or stop sending this kind of document.",
    "3260": "The QuickBooks user the Web Connector logs in as lacks permission; an administrator must "
    "grant it.",
    "3261": "The application may not access personal data; allow it in QuickBooks' Integrated "
    "Applications preferences.",
    StatusCode.INVALID_ITERATOR: "The query iterator expired; the query restarts from its high-water mark.",
}

_TABLE: dict[str, Verdict] = {
    StatusCode.OK: Verdict(Action.DONE, "OK."),
    StatusCode.NO_MATCH: Verdict(Action.EMPTY, "Nothing matched the query."),
    StatusCode.NAME_IN_USE: Verdict(Action.LINK_EXISTING, "A list entry with this name exists already in QuickBooks."),
    StatusCode.INVALID_REFERENCE: Verdict(Action.CREATE_DEPENDENCY,
                                          "The request refers to something missing in QuickBooks."),
    StatusCode.STALE_EDIT_SEQUENCE: Verdict(Action.REQUERY,
                                            "Someone edited the record meanwhile; it is read again first."),
    "1000": Verdict(Action.RETRY, "QuickBooks had an internal error; retrying later."),
    "3170": Verdict(Action.RETRY, "The list is being modified by another user; retrying later."),
    "3175": Verdict(Action.RETRY, "The record is in use by another QuickBooks user; retrying later."),
    "3176": Verdict(Action.RETRY, "The record is being edited in QuickBooks; retrying later."),
    "3180": Verdict(Action.RETRY, "QuickBooks could not save the list entry (usually a lock); retrying later."),
}


_MISSING_REFERENCE = re.compile(r'invalid reference to QuickBooks\s+(?P<kind>[A-Za-z ]+?)\s+"(?P<name>[^"]*)"')


def missing_reference(message: str) -> tuple[str, str] | None:
    """(kind, name) from a 3140 message: 'There is an invalid reference to QuickBooks Customer "X" ...'."""
    found = _MISSING_REFERENCE.search(message)
    return (found["kind"].strip(), found["name"]) if found else None


def explain(code: str, message: str, verdict: Verdict) -> str:
    """QuickBooks' message with what it means, naming the missing object for 3140."""
    if verdict.action is Action.CREATE_DEPENDENCY:
        missing = missing_reference(message)
        if missing:
            kind, name = missing
            return (f"QuickBooks has no {kind} named {name!r}. Create it in QuickBooks (or turn on the "
                    f"option that creates it), then retry the job. QuickBooks said: {message.strip()}")
    return f"{message.strip()} {verdict.hint}".strip()


def verdict_for(status_code: str, severity: str = "") -> Verdict:
    """The action for one ``*Rs`` status, by exact code, then by severity range."""
    known = _TABLE.get(status_code)
    if known is not None:
        return known
    if status_code in _DEAD_HINTS:
        return Verdict(Action.DEAD, _DEAD_HINTS[status_code])
    try:
        number = int(status_code)
    except ValueError:
        return Verdict(Action.DEAD, "QuickBooks answered with a status code this service does not know.")
    if number < 1000 or severity.lower() in ("info", "warn"):
        # 0-999 are Info/Warn: the request was processed; the message is kept as a warning.
        return Verdict(Action.DONE, "Done with a warning from QuickBooks.")
    return Verdict(Action.DEAD, "QuickBooks refused the request; see the message.")


PARSE_ERROR = "0x80040400"
_HRESULT_HINTS = {
    PARSE_ERROR: "QuickBooks could not parse the message set (qbXML error) and applied none of it. Its requests "
    "are sent again one per message set, so the one QuickBooks cannot read ends dead and the others go through.",
    "0x80040401": "The Web Connector could not access QuickBooks. Check that QuickBooks is installed and "
    "can be started on that computer.",
    "0x80040402": "QuickBooks had an unexpected error; see qbsdklog.txt on the QuickBooks computer.",
    "0x80040408": "QuickBooks could not be started. Open QuickBooks on the Web Connector's computer, or "
    "allow this application to log in automatically in QuickBooks' Integrated Applications preferences.",
    "0x80040410": "The company file is open in a different mode, or another company file is open. Open "
    "the right company file in QuickBooks (single-user mode if asked).",
    "0x80040414": "A dialog is open in QuickBooks. Close the dialog in QuickBooks, then run the update "
    "again.",
    "0x80040416": "No company file is open and none was named. Open the company file in QuickBooks, then "
    "run the update again.",
    "0x80040417": "The company file could not be opened. Check its path and that it is not in use.",
    "0x8004041a": "This application is not authorised for the company file. In QuickBooks, as the admin, "
    "answer 'Yes, always; allow access even if QuickBooks is not running'.",
    "0x80040420": "The QuickBooks user denied access to this application. In QuickBooks, as the admin, "
    "grant access in Edit > Preferences > Integrated Applications.",
}


class SetFailure(StrEnum):
    """What a failed message set (an hresult instead of an answer) says about the requests in it."""

    UNREADABLE = "unreadable"  # QuickBooks refused the set whole before doing anything: a request in it is bad
    NOT_REACHED = "not-reached"  # QuickBooks (or the company file) was not reached: nothing was applied
    UNKNOWN = "unknown"  # QuickBooks may have applied part of it


# QuickBooks could not be started, opened or accessed: it never saw the requests.
_NOT_REACHED = frozenset({
    "0x80040401", "0x80040408", "0x80040410", "0x80040416", "0x80040417", "0x8004041a", "0x80040420",
})


def hresult_key(hresult: str) -> str:
    """The hresult as ``0x8004xxxx`` (the Web Connector also sends it as a signed decimal)."""
    key = hresult.strip().lower()
    if key and not key.startswith("0x"):
        try:
            key = hex(int(key) & 0xFFFFFFFF)
        except ValueError:
            pass
    return key


def set_failure(hresult: str) -> SetFailure:
    key = hresult_key(hresult)
    if key == PARSE_ERROR:
        return SetFailure.UNREADABLE
    return SetFailure.NOT_REACHED if key in _NOT_REACHED else SetFailure.UNKNOWN


def hresult_hint(hresult: str) -> str:
    """A sentence telling a person what to do about a Web Connector hresult."""
    return _HRESULT_HINTS.get(hresult_key(hresult), "The Web Connector reported an error talking to QuickBooks.")
