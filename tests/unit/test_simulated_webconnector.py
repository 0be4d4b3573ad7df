"""The simulated Web Connector keeps one HTTP connection alive across its calls, and copes with a server
that closes it."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from qbwc_service.simulate.quickbooks import QuickBooksCompany
from qbwc_service.simulate.webconnector import WebConnectorClient, WebConnectorError

ANSWER = (
    b'<?xml version="1.0" encoding="utf-8"?>'
    b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
    b'<serverVersionResponse xmlns="http://developer.intuit.com/">'
    b"<serverVersionResult>stand-in 1.0</serverVersionResult></serverVersionResponse></soap:Body></soap:Envelope>"
)


class StandIn(ThreadingHTTPServer):
    """Answers every serverVersion call; counts the connections it accepted and can drop each after one answer,
    as a server whose keep-alive timeout ran out does (without saying so in the answer)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.connections = 0
        self.close_after_answer = False
        self.closed = threading.Semaphore(0)

    def shutdown_request(self, request: Any) -> None:
        super().shutdown_request(request)
        self.closed.release()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes; do not hold the second one back
    server: StandIn

    def setup(self) -> None:
        super().setup()
        self.server.connections += 1

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Type", "text/xml; charset=utf-8")
        self.send_header("Content-Length", str(len(ANSWER)))
        self.end_headers()
        self.wfile.write(ANSWER)
        self.close_connection = self.server.close_after_answer

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    server = StandIn()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def _web_connector(server: StandIn, client: httpx.Client | None = None) -> WebConnectorClient:
    host, port = server.server_address[:2]
    return WebConnectorClient(f"http://{host!s}:{port}/qbwc", "user", "token", QuickBooksCompany(), client=client)


def test_calls_share_one_connection_until_closed(stand_in: StandIn) -> None:
    with _web_connector(stand_in) as web_connector:
        for _ in range(5):
            assert web_connector.server_version() == "stand-in 1.0"
        assert stand_in.connections == 1
    assert stand_in.closed.acquire(timeout=10)  # close() hung up
    web_connector.server_version()  # a closed Web Connector opens a new client when used again
    assert stand_in.connections == 2
    web_connector.close()


def test_a_connection_the_server_closed_is_replaced(stand_in: StandIn) -> None:
    stand_in.close_after_answer = True
    with _web_connector(stand_in) as web_connector:
        for expected in (1, 2, 3):
            assert web_connector.server_version() == "stand-in 1.0"
            assert stand_in.closed.acquire(timeout=10)
            assert stand_in.connections == expected


def test_a_given_client_is_used_and_left_open(stand_in: StandIn) -> None:
    with httpx.Client() as client:
        with _web_connector(stand_in, client) as web_connector:
            web_connector.server_version()
        assert not client.is_closed
        _web_connector(stand_in, client).server_version()  # the same pooled connection
        assert stand_in.connections == 1


def test_an_unreachable_service_is_a_transport_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connections are refused
        web_connector = WebConnectorClient(f"http://127.0.0.1:{port}/qbwc", "u", "p", QuickBooksCompany())
        with pytest.raises(WebConnectorError, match="QBWC1013") as raised:
            web_connector.server_version()
    assert raised.value.transport
    web_connector.close()
