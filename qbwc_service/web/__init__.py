"""The operator's web pages, served at ``/`` beside the API: sign-in with an API key, the setup wizard of each
connection, the dashboard, the queue and each job, and a connection's options. Server-rendered with Jinja2 (its
templates and the stylesheet are package data); the one script copies a token. Every page calls the same use
cases as the CLI and the API (qbwc_service.usecases, connection_usecases), never the tables.

A page needs a signed-in operator (web.session); an action (every POST) needs an admin key's session and the
session's CSRF token. A read-only key signs in and sees every page, without the buttons; its POSTs are refused
(403) and change nothing."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from qbwc_service.api import PREFIX as API_PREFIX
from qbwc_service.api.context import ApiContext
from qbwc_service.api.limits import BodyLimit
from qbwc_service.web import dashboard, jobs, options, signin, wizard
from qbwc_service.web.base import STATIC_DIR, Pages, install_handlers

FORM_MAX_BYTES = 64 * 1024
"""The largest form a page accepts (the options form is a few KiB)."""


def install(app: FastAPI, context: ApiContext) -> None:
    """Mount the pages, their stylesheet and script (``/static``), and their error answers on ``app``."""
    pages = Pages(context)
    app.state.pages = pages
    install_handlers(app, pages)
    for module in (signin, dashboard, wizard, jobs, options):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")


class PagesBodyLimit:
    """The pages' forms are small: a body larger than FORM_MAX_BYTES is refused (413) before it is read whole.
    The API (its own limit) and what the SOAP route takes before this are left alone."""

    def __init__(self, app: ASGIApp, idle_timeout: float) -> None:
        self.app = app
        self.limited = BodyLimit(app, FORM_MAX_BYTES, idle_timeout)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("path", "").startswith(API_PREFIX):
            await self.limited(scope, receive, send)
        else:
            await self.app(scope, receive, send)
