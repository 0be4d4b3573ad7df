"""Logging set-up: one line a record, with the job / ticket / connection context appended."""

from __future__ import annotations

import logging

_CONTEXT_KEYS = ("connection", "ticket", "job", "jobs", "username", "hresult", "reason", "error")


class ContextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        # repr() keeps values from outside (a username, a QuickBooks message) on one line, quotes and all.
        context = " ".join(
            f"{key}={getattr(record, key)!r}" for key in _CONTEXT_KEYS if getattr(record, key, None) is not None
        )
        return f"{line} {context}" if context else line


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(ContextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
