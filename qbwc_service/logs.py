"""Logging set-up: one line a record, with the job / ticket / connection context appended, and every part of
it bounded, whatever a request carried.

The service answers unauthenticated requests from the internet, so nothing a request says may grow the log
more than a few hundred characters: :class:`ContextFormatter` cuts the message, each context value and the
traceback. spyne's own loggers are shut (:func:`quiet_spyne`): they log whole request bodies (a malformed
body at ERROR, every document at DEBUG), tokens included. SQLAlchemy logs statements and rows only at
WARNING and above, whatever the level asked for (rows hold payloads and answers), and its engines never put
parameter values in a message (``hide_parameters``, :mod:`qbwc_service.db.engine`).
"""

from __future__ import annotations

import logging
import re
from typing import Any

_CONTEXT_KEYS = ("connection", "ticket", "job", "jobs", "username", "address", "hresult", "reason", "error")

MESSAGE_CHARS = 500
"""The longest message logged; the rest is left out, and the line says how much."""
VALUE_CHARS = 120
"""The longest context value (``username=...``)."""
TRACEBACK_LINE_CHARS = 300
TRACEBACK_CHARS = 6000
"""A traceback keeps its start and its end (where the exception is named) within this many characters."""

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def cut(text: str, limit: int) -> str:
    """``text`` if it is at most ``limit`` characters long, else its start and how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}...[{len(text) - limit} more characters]"


def one_line(text: str) -> str:
    """Control characters (a line break in a username: a forged log line) written as escapes."""
    return _CONTROL.sub(lambda match: repr(match.group())[1:-1], text)


def _bounded_value(value: Any) -> str:
    if isinstance(value, str | bytes):
        return repr(value[:VALUE_CHARS]) + (f"...[{len(value) - VALUE_CHARS} more]" if len(value) > VALUE_CHARS
                                            else "")
    return cut(repr(value), VALUE_CHARS)


def _bounded_traceback(text: str) -> str:
    lines = [cut(line, TRACEBACK_LINE_CHARS) for line in text.splitlines()]
    bounded = "\n".join(lines)
    if len(bounded) <= TRACEBACK_CHARS:
        return bounded
    half = TRACEBACK_CHARS // 2
    return f"{bounded[:half]}\n...[{len(bounded) - TRACEBACK_CHARS} characters of traceback left out]...\n" \
           f"{bounded[-half:]}"


class ContextFormatter(logging.Formatter):
    """One line a record (a traceback after it), each part cut to its bound."""

    def format(self, record: logging.LogRecord) -> str:
        bounded = logging.makeLogRecord(record.__dict__)
        bounded.msg, bounded.args = one_line(cut(record.getMessage(), MESSAGE_CHARS)), None
        if record.exc_info and not record.exc_text:
            bounded.exc_text = self.formatException(record.exc_info)
        if bounded.exc_text:
            bounded.exc_text = _bounded_traceback(bounded.exc_text)
        if record.stack_info:
            bounded.stack_info = _bounded_traceback(record.stack_info)
        line = super().format(bounded)
        # repr() keeps values from outside (a username, a QuickBooks message) on one line, quotes and all.
        context = " ".join(
            f"{key}={_bounded_value(getattr(record, key))}"
            for key in _CONTEXT_KEYS if getattr(record, key, None) is not None
        )
        return f"{line} {context}" if context else line


def quiet_spyne() -> None:
    """No record of spyne's reaches a handler, at any level: spyne logs whole request bodies (a malformed one
    at ERROR with the token it carries, every document at DEBUG). The SOAP transport logs one bounded line
    for each request it refuses instead."""
    spyne = logging.getLogger("spyne")
    spyne.setLevel(logging.CRITICAL + 1)
    spyne.propagate = False
    if not any(isinstance(handler, logging.NullHandler) for handler in spyne.handlers):
        spyne.addHandler(logging.NullHandler())


def configure_logging(level: str) -> None:
    """The root logger writes bounded lines to stderr at ``level``; uvicorn's loggers (serve gives it no
    configuration of its own) go through it too. SQLAlchemy's stay at WARNING."""
    handler = logging.StreamHandler()
    handler.setFormatter(ContextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("sqlalchemy").setLevel(logging.WARNING)
    quiet_spyne()
