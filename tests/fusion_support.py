"""The simulated Fusion Operations API served on loopback in a thread, and a sleep that records its waits and
moves the fake clock instead of waiting."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx
from sqlalchemy.orm import Session, sessionmaker

from qbwc_service.clock import FakeClock
from qbwc_service.fusion.auth import BearerToken, TokenSource
from qbwc_service.fusion.budget import UNLIMITED, RequestBudget
from qbwc_service.fusion.client import FusionClient
from qbwc_service.fusion.http import FusionHttp, RetryPolicy
from qbwc_service.simulate.demo import served_fusion
from qbwc_service.simulate.fusion import API_PREFIX, SimulatedFusion
from qbwc_service.simulate.quickbooks import QuickBooksCompany
from qbwc_service.simulate.webconnector import WebConnectorClient
from tests.conftest import LiveServer, _stopping, free_port
from tests.support import Paired

SEED_TOKEN = "sim-fusion-token"


@dataclass
class RecordedSleep:
    """A sleep that moves ``clock`` by the time asked and remembers it."""

    clock: FakeClock
    waits: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.clock.advance(seconds=seconds)


@dataclass
class ServedFusion:
    sim: SimulatedFusion
    origin: str

    @property
    def base_url(self) -> str:
        return self.origin + API_PREFIX


@contextmanager
def serve_fusion(sim: SimulatedFusion) -> Iterator[ServedFusion]:
    """``sim`` served by uvicorn on a free loopback port until the block ends (the demo's server: its thread is
    waited for with the other test servers')."""
    port = free_port()
    with served_fusion(sim, "127.0.0.1", port, stopped=_stopping.append):
        yield ServedFusion(sim, f"http://127.0.0.1:{port}")


class Clients:
    """Makes Fusion clients (and the HTTP clients the OAuth token sources use) and closes them all at the end."""

    def __init__(self) -> None:
        self._open: list[FusionClient | httpx.Client] = []

    def http(self) -> httpx.Client:
        made = httpx.Client()
        self._open.append(made)
        return made

    def make(self, base_url: str, clock: FakeClock, sleep: RecordedSleep, *, auth: TokenSource | None = None,
             budget: RequestBudget = UNLIMITED, retry: RetryPolicy | None = None, timeout: float = 10.0,
             http: httpx.Client | None = None) -> FusionClient:
        client = FusionClient(FusionHttp(base_url, auth or BearerToken(SEED_TOKEN), budget=budget,
                                         retry=retry or RetryPolicy(max_attempts=3, backoff_seconds=1.0),
                                         timeout=timeout, sleep=sleep, clock=clock, http=http))
        self._open.append(client)
        return client

    def close_all(self) -> None:
        for made in self._open:
            made.close()


@dataclass
class ThreeParts:
    """The three simulated parts wired together: the service served over HTTP with one paired connection, its
    Web Connector's QuickBooks company, and the simulated Fusion API served beside it."""

    server: LiveServer
    fusion: ServedFusion
    paired: Paired
    company: QuickBooksCompany

    @property
    def sim(self) -> SimulatedFusion:
        return self.fusion.sim

    @property
    def sessions(self) -> sessionmaker[Session]:
        return self.server.sessions

    def session(self, expect: str = "done") -> None:
        """One Web Connector session against the company; it must end with ``expect``."""
        report = WebConnectorClient(self.server.soap_url, self.paired.username, self.paired.token,
                                    self.company).run_session()
        assert report.outcome == expect, report
