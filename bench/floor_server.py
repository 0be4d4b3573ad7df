"""The floor to measure serve against: the same server stack (uvicorn, FastAPI, the SOAP transport, the guarded spyne
app of qbwc_service.soap) answering every Web Connector call with canned values from memory. No database, no queue:
sendRequestXML hands out a prebuilt message set of ``--batch`` CustomerAddRq until ``--jobs`` were handed out, counted
per Web Connector (each username gets a ticket of its own), so that many Web Connectors may run at once.

    python bench/floor_server.py --port 8123 --batch 50 --jobs 2000
"""

from __future__ import annotations

import argparse
import hashlib
import threading

import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from qbwc_service.app import SecurityHeaders, SoapRoute
from qbwc_service.body_budget import BodyBudget
from qbwc_service.settings import Settings
from qbwc_service.soap import LargeBodies, build_soap_app, guard_soap
from qbwc_service.soap_transport import BodyLimits, SoapTransport


class CannedProtocol:
    """What WebConnectorSessions answers, from memory."""

    database_retry_seconds = 0.0

    def __init__(self, batch: int, jobs: int) -> None:
        self.batch, self.jobs = batch, jobs
        self.handed: dict[str, int] = {}
        self.lock = threading.Lock()
        requests = "".join(f'<CustomerAddRq requestID="{i}"><CustomerAdd><Name>Floor Customer {i:05d}</Name>'
                           "</CustomerAdd></CustomerAddRq>" for i in range(batch))
        self.message_set = ('<?xml version="1.0" encoding="utf-8"?><?qbxml version="13.0"?><QBXML>'
                            f'<QBXMLMsgsRq onError="continueOnError">{requests}</QBXMLMsgsRq></QBXML>')

    def server_version(self) -> str:
        return "qbwc-service floor"

    def client_version(self, version: str | None) -> str:
        return ""

    def authenticate(self, username: str | None, password: str | None, client_version: str | None = None,
                     address: str = "") -> list[str]:
        ticket = hashlib.sha256((username or "").encode()).hexdigest()[:32]
        with self.lock:
            self.handed[ticket] = 0
        return [ticket, ""]

    def send_request_xml(self, ticket: str | None, *_args: object) -> str:
        with self.lock:
            handed = self.handed.get(ticket or "", self.jobs)
            if handed >= self.jobs:
                return ""
            self.handed[ticket or ""] = handed + self.batch
        return self.message_set

    def receive_response_xml(self, ticket: str | None, response: str | None, hresult: str | None,
                             message: str | None) -> int:
        with self.lock:
            handed = self.handed.get(ticket or "", self.jobs)
        return 100 if handed >= self.jobs else max(1, min(99, 100 * handed // self.jobs))

    def connection_error(self, ticket: str | None, hresult: str | None, message: str | None) -> str:
        return "done"

    def get_last_error(self, ticket: str | None) -> str:
        return ""

    def holds_session(self, ticket: str | None) -> bool:
        with self.lock:
            return (ticket or "") in self.handed

    def close_connection(self, ticket: str | None) -> str:
        with self.lock:
            self.handed.pop(ticket or "", None)
        return "OK"


def create_floor_app(batch: int, jobs: int) -> FastAPI:
    settings = Settings()
    protocol = CannedProtocol(batch, jobs)
    guarded = guard_soap(build_soap_app(protocol, settings.max_body_bytes, settings.qbwc_url),  # type: ignore[arg-type]
                         settings.max_body_bytes)
    limits = BodyLimits(
        largest=settings.max_body_bytes, small=settings.max_small_body_bytes,
        small_budget=BodyBudget(settings.small_bodies_budget_bytes),
        large_budget=BodyBudget(settings.large_bodies_budget_bytes),
        large=LargeBodies(protocol, settings.max_small_body_bytes),  # type: ignore[arg-type]
        wait=settings.request_body_timeout_seconds)
    soap = SoapTransport(guarded, settings.max_body_bytes, workers=16,
                         idle_timeout=settings.request_body_timeout_seconds, limits=limits)
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    app.add_middleware(SoapRoute, soap=soap)
    app.add_middleware(SecurityHeaders)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--jobs", type=int, default=2000)
    args = parser.parse_args()
    uvicorn.run(create_floor_app(args.batch, args.jobs), host="127.0.0.1", port=args.port, log_level="warning",
                log_config=None, proxy_headers=True, server_header=False)


if __name__ == "__main__":
    main()
