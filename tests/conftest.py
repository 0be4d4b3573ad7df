"""Shared fixtures: databases (SQLite always, PostgreSQL when QBWC_TEST_POSTGRES_URL is set), a live server
on loopback, Intuit's qbXML schema (shipped in the package) and the paths of the other reference files in
../shared (Intuit's sample messages, the WSDL), which tests skip without."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from lxml import etree
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from qbwc_service.app import create_app
from qbwc_service.clock import FakeClock
from qbwc_service.db.engine import make_engine, make_sessionmaker
from qbwc_service.db.migrate import upgrade
from qbwc_service.kinds import REGISTRY, Registry
from qbwc_service.qbxml.schema import PACKAGED_SCHEMA_DIR, SCHEMA_130, SCHEMA_160, RequestValidator, load_schema
from qbwc_service.settings import Settings, load_settings

SHARED = Path(__file__).resolve().parents[2] / "shared"
POSTGRES_URL = os.environ.get("QBWC_TEST_POSTGRES_URL")


def shared_path(*parts: str) -> Path:
    """A file in ../shared, or skip the test saying why."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent: Intuit's reference files in ../shared are needed for this test")
    return path


@pytest.fixture(scope="session")
def qbxml_schema_130() -> etree.XMLSchema:
    """Intuit's qbXML 13.0 schema as shipped in the package, parsed once per run (and shared with the gate)."""
    return load_schema(PACKAGED_SCHEMA_DIR / SCHEMA_130)


@pytest.fixture(scope="session")
def qbxml_schema_160() -> etree.XMLSchema:
    """Intuit's qbXML 16.0 schema as shipped in the package, parsed once per run (and shared with the gate)."""
    return load_schema(PACKAGED_SCHEMA_DIR / SCHEMA_160)


@pytest.fixture(scope="session")
def schema_gate() -> RequestValidator:
    """The schema gate as the service builds it by default: the packaged schema, chosen by qbXML version."""
    return RequestValidator(PACKAGED_SCHEMA_DIR)


def reset_postgres(url: str) -> Engine:
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    return engine


def _database_params() -> list[object]:
    reason = "QBWC_TEST_POSTGRES_URL is not set; PostgreSQL tests skipped"
    marks = [] if POSTGRES_URL else [pytest.mark.skip(reason=reason)]
    return ["sqlite", pytest.param("postgresql", marks=[pytest.mark.postgres, *marks])]


@pytest.fixture(params=_database_params())
def engine_empty(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty database of each supported kind."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'test.db'}")
    else:
        assert POSTGRES_URL
        engine = reset_postgres(POSTGRES_URL)
    yield engine
    engine.dispose()


@pytest.fixture
def engine(engine_empty: Engine) -> Engine:
    """A database of each kind, migrated to the newest schema."""
    upgrade(engine_empty)
    return engine_empty


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return make_sessionmaker(engine)


@pytest.fixture
def settings(engine: Engine) -> Settings:
    return load_settings(
        database_url=engine.url.render_as_string(hide_password=False),
        public_url="http://localhost:8080",
        retry_backoff_seconds=0,
    )  # the schema gate is on by default, with the packaged schema: every request sent in tests is checked


@dataclass
class LiveServer:
    url: str
    settings: Settings
    sessions: sessionmaker[Session]
    clock: FakeClock

    @property
    def soap_url(self) -> str:
        return f"{self.url}/qbwc"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(settings: Settings, engine: Engine, sessions: sessionmaker[Session]) -> Iterator[LiveServer]:
    """The real app served by uvicorn on loopback, in a thread."""
    yield from run_server(settings, engine, sessions)


def run_server(settings: Settings, engine: Engine, sessions: sessionmaker[Session],
               clock: FakeClock | None = None, registry: Registry = REGISTRY) -> Iterator[LiveServer]:
    """The app on a clock that moves only when a test moves it (``server.clock.advance(hours=2)``), with the
    job kinds of ``registry`` (a test injects a fault by replacing a kind)."""
    clock = clock or FakeClock()
    port = free_port()
    app = create_app(settings, engine, clock, registry)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                            lifespan="off")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not instance.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", settings, sessions, clock)
    finally:
        instance.should_exit = True
        thread.join(timeout=10)
