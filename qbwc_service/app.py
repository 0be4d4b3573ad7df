"""The one process: FastAPI for /healthz, /metrics, the support page, the HTTP API (/api/v1) and the operator's
pages (qbwc_service.web, at /), spyne at /qbwc, and the background maintenance (heartbeat, sessions cut off by
the database, the daily prune) and background work (background.py: the delivery worker, unless
``delivery_worker = false``; the Fusion poller of the automatic send flows, unless ``fusion_poll = false``) while
it runs.

Every response says ``X-Content-Type-Options: nosniff`` and ``Cache-Control: no-store`` (:class:`SecurityHeaders`;
HTML pages a Content-Security-Policy too: they load the service's own stylesheet and script, nothing
else). /healthz names no version, and FastAPI's own /docs, /redoc and
/openapi.json are off: the API's document is under /api/v1, behind a key."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, JSONResponse
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qbwc_service.api import PREFIX as API_PREFIX
from qbwc_service.api import create_api, metrics, problems
from qbwc_service.api.context import ApiContext
from qbwc_service.background import Runner, service_tasks
from qbwc_service.body_budget import BodyBudget
from qbwc_service.clock import SYSTEM_CLOCK, Clock
from qbwc_service.db.engine import make_engine, make_sessionmaker
from qbwc_service.kinds import REGISTRY, Registry
from qbwc_service.maintenance import Maintenance
from qbwc_service.processes import this_process
from qbwc_service.sessions import WebConnectorSessions
from qbwc_service.settings import Settings
from qbwc_service.soap import LargeBodies, build_soap_app, guard_soap
from qbwc_service.soap_transport import BodyLimits, SoapTransport
from qbwc_service.support_page import SUPPORT_PATH, support_page
from qbwc_service.web import PagesBodyLimit
from qbwc_service.web import install as install_pages

log = logging.getLogger(__name__)

SOAP_PATH = "/qbwc"


def create_app(settings: Settings, engine: Engine | None = None, clock: Clock = SYSTEM_CLOCK,
               registry: Registry = REGISTRY) -> FastAPI:
    engine = engine or make_engine(settings.database_url)
    sessions: sessionmaker[Session] = make_sessionmaker(engine)
    process = this_process()
    protocol = WebConnectorSessions(sessions, settings, clock, registry, process)
    maintenance = Maintenance(sessions, protocol, settings, clock, process)
    upkeep = maintenance.runner()
    guarded = guard_soap(build_soap_app(protocol, settings.max_body_bytes, settings.qbwc_url),
                         settings.max_body_bytes)
    limits = BodyLimits(
        largest=settings.max_body_bytes, small=settings.max_small_body_bytes,
        small_budget=BodyBudget(settings.small_bodies_budget_bytes),
        large_budget=BodyBudget(settings.large_bodies_budget_bytes),
        large=LargeBodies(protocol, settings.max_small_body_bytes), wait=settings.request_body_timeout_seconds)
    soap = SoapTransport(guarded, settings.max_body_bytes, workers=16,
                         idle_timeout=settings.request_body_timeout_seconds, limits=limits)

    background = Runner(service_tasks(sessions, settings, clock))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        upkeep.start()
        if background.tasks:
            background.start()
        try:
            yield
        finally:
            background.stop()
            upkeep.stop()

    # No page of its own documents the root: the API's document and docs are under /api/v1, behind a key.
    app = FastAPI(title="qbwc-service", openapi_url=None, docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = sessions
    context = ApiContext.build(settings, engine, clock)
    app.state.api_context = context
    problems.install(app)
    app.include_router(metrics.router)
    app.mount(API_PREFIX, create_api(context))

    @app.api_route("/healthz", methods=["GET", "HEAD"])
    def healthz() -> JSONResponse:
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - the probe reports; it must not raise
            log.warning("health check failed: %s", exc)
            return JSONResponse({"status": "error", "database": "unreachable"}, status_code=503)
        return JSONResponse({"status": "ok", "database": "reachable"})

    page = support_page(settings)

    @app.api_route(SUPPORT_PATH, methods=["GET", "HEAD"], response_class=HTMLResponse)
    def support() -> HTMLResponse:
        return HTMLResponse(page)

    install_pages(app, context)
    app.add_middleware(PagesBodyLimit, idle_timeout=settings.request_body_timeout_seconds)
    app.add_middleware(SoapRoute, soap=soap)
    app.add_middleware(SecurityHeaders)  # the outermost: SOAP's answers get the headers too
    return app


SECURITY_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"cache-control", b"no-store")]
HTML_POLICY = (b"content-security-policy", b"default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
               b"form-action 'self'; base-uri 'none'; frame-ancestors 'none'")


class SecurityHeaders:
    """Adds :data:`SECURITY_HEADERS` to every response (replacing any the app set), and to HTML the
    :data:`HTML_POLICY`: no browser guesses another type for an answer, no cache keeps one (SOAP answers carry
    tickets and QuickBooks data), and a page loads nothing but the service's own stylesheet and script, posts its
    forms nowhere else, and is framed by no one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                replaced = {name for name, _value in SECURITY_HEADERS}
                headers = [(name, value) for name, value in message.get("headers", []) if name.lower() not in replaced]
                headers += SECURITY_HEADERS
                if any(name.lower() == b"content-type" and value.startswith(b"text/html") for name, value in headers):
                    headers.append(HTML_POLICY)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class SoapRoute:
    """Sends /qbwc (exactly, no redirect: the Web Connector does not follow one) to the SOAP app."""

    def __init__(self, app: ASGIApp, soap: ASGIApp) -> None:
        self.app, self.soap = app, soap

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and (path == SOAP_PATH or path.startswith(SOAP_PATH + "/")):
            await self.soap(scope, receive, send)
        else:
            await self.app(scope, receive, send)
