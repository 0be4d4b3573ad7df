"""Shared fixtures: databases (SQLite always, PostgreSQL when QBWC_TEST_POSTGRES_URL is set),
a live server on loopback, and the paths of Intuit's reference files in ../shared."""

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
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from qbwc_service.app import create_app
from qbwc_service.clock import FakeClock
from qbwc_service.db.engine import make_engine, make_sessionmaker
from qbwc_service.db.migrate import upgrade
from qbwc_service.kinds import REGISTRY, Registry
from qbwc_service.settings import Settings, load_settings

SHARED = Path(__file__).resolve().parents[2] / "shared"
POSTGRES_URL = os.environ.get("QBWC_TEST_POSTGRES_URL")


def shared_path(*parts: str) -> Path:
    """A file in ../shared, or skip the test saying why."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent: Intuit's reference files in ../shared are needed for this test")
    return path


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
        # Every request the service emits is checked against Intuit's schema in tests.
        qbxml_schema_dir=SHARED / "qbxml" / "xsd" if (SHARED / "qbxml" / "xsd").is_dir() else None,
    )


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
