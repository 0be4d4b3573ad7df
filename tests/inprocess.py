"""The simulated Web Connector driving WebConnectorSessions in-process: the whole protocol (sessions, the
queue, job kinds, the simulated QuickBooks company) without SOAP or HTTP, on a clock the test moves. The
end-to-end tests keep the WSDL, the SOAP guard and the transport."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from qbwc_service.clock import FakeClock
from qbwc_service.db.engine import make_sessionmaker
from qbwc_service.kinds import REGISTRY, Registry
from qbwc_service.sessions import WebConnectorSessions
from qbwc_service.settings import Settings, load_settings
from qbwc_service.simulate.quickbooks import QuickBooksCompany
from qbwc_service.simulate.webconnector import WebConnectorClient
from tests.support import Paired


class InProcessWebConnector(WebConnectorClient):
    """Each Web Connector call is a method call on the protocol; an unexpected error surfaces as itself."""

    def __init__(self, protocol: WebConnectorSessions, paired: Paired, company: QuickBooksCompany,
                 address: str = "127.0.0.1") -> None:
        super().__init__("in-process", paired.username, paired.token, company, sleep=lambda _seconds: None)
        self.protocol = protocol
        self.address = address

    def server_version(self) -> str:
        return self.protocol.server_version()

    def client_version(self, version: str) -> str:
        return self.protocol.client_version(version)

    def authenticate(self, username: str, password: str) -> list[str]:
        return self.protocol.authenticate(username, password, self.version, self.address)

    def send_request_xml(self, ticket: str, hcp_response: str, company_file_name: str, country: str,
                         major_version: int, minor_version: int) -> str:
        return self.protocol.send_request_xml(ticket, hcp_response, company_file_name, country, major_version,
                                              minor_version)

    def receive_response_xml(self, ticket: str, response: str, hresult: str, message: str) -> int:
        return self.protocol.receive_response_xml(ticket, response, hresult, message)

    def connection_error(self, ticket: str, hresult: str, message: str) -> str:
        return self.protocol.connection_error(ticket, hresult, message)

    def get_last_error(self, ticket: str) -> str:
        return self.protocol.get_last_error(ticket)

    def close_connection(self, ticket: str) -> str:
        return self.protocol.close_connection(ticket)


@dataclass
class Protocol:
    """The service's protocol over a SQLite database, with its fake clock."""

    sessions: sessionmaker[Session]
    settings: Settings
    clock: FakeClock
    protocol: WebConnectorSessions

    def web_connector(self, paired: Paired, company: QuickBooksCompany | None = None) -> InProcessWebConnector:
        return InProcessWebConnector(self.protocol, paired, company or QuickBooksCompany())


def in_process(engine: Engine, registry: Registry = REGISTRY, **settings: object) -> Protocol:
    loaded = load_settings(**{"database_url": str(engine.url), "retry_backoff_seconds": 0, **settings})
    clock = FakeClock()
    sessions = make_sessionmaker(engine)
    return Protocol(sessions, loaded, clock, WebConnectorSessions(sessions, loaded, clock, registry))


@pytest.fixture
def protocol(engine: Engine) -> Protocol:
    """The protocol over the test's database (SQLite unless the test is marked each_database)."""
    return in_process(engine)
