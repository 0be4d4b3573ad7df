"""Shared fixtures: databases (SQLite always, PostgreSQL when QBWC_TEST_POSTGRES_URL is set), a live server
on loopback, Intuit's qbXML schema (shipped in the package) and the paths of the other reference files in
../shared (Intuit's sample messages, the WSDL), which tests skip without.

A test runs on SQLite only, unless the database is what it tests: those are marked ``each_database`` and
run once per engine (``engine`` and all that is built on it, ``sessions``, ``settings``, ``server``).

The migrations run once per test run and engine, not once per test: SQLite tests get a copy of one migrated
file, PostgreSQL tests the one migrated schema with every table emptied. ``engine_empty`` stays truly empty,
for the migration tests.

On PostgreSQL the tests work in a schema they create for the run and drop at its end (:class:`PostgresDatabase`);
the rest of the database at QBWC_TEST_POSTGRES_URL is never touched."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import hypothesis
import platformdirs
import pytest
import uvicorn
from lxml import etree
from sqlalchemy import Engine, inspect, make_url, text
from sqlalchemy.orm import Session, sessionmaker

from qbwc_service.app import create_app
from qbwc_service.clock import FakeClock
from qbwc_service.db.engine import make_engine, make_sessionmaker
from qbwc_service.db.migrate import upgrade
from qbwc_service.kinds import REGISTRY, Registry
from qbwc_service.qbxml.schema import PACKAGED_SCHEMA_DIR, SCHEMA_130, SCHEMA_160, RequestValidator, load_schema
from qbwc_service.settings import Settings, load_settings

SHARED = Path(__file__).resolve().parents[2] / "shared"

# The fuzzing (tests/security/test_fuzz_soap.py): the same examples on every run, each run bounded; the other
# profile searches longer, at random (pytest --hypothesis-profile=qbwc-explore).
_FUZZ_HEALTH = [hypothesis.HealthCheck.function_scoped_fixture, hypothesis.HealthCheck.too_slow]
hypothesis.settings.register_profile("qbwc-ci", max_examples=150, derandomize=True, deadline=None, database=None,
                                     suppress_health_check=_FUZZ_HEALTH)
hypothesis.settings.register_profile("qbwc-explore", max_examples=3000, deadline=None, database=None,
                                     suppress_health_check=_FUZZ_HEALTH)
hypothesis.settings.load_profile("qbwc-ci")
POSTGRES_URL = os.environ.get("QBWC_TEST_POSTGRES_URL")


def shared_path(*parts: str) -> Path:
    """A file in ../shared, or skip the test saying why."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent: Intuit's reference files in ../shared are needed for this test")
    return path


@pytest.fixture(autouse=True)
def _own_user_data_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test touches the user's own data folder, where the default database lives: the folder platformdirs
    gives each test is one of its own (not created until something writes there)."""
    folder = tmp_path_factory.mktemp("user-data")
    monkeypatch.setattr(platformdirs, "user_data_dir",
                        lambda appname=None, *args, **kwargs: str(folder / "data" / (appname or "")))


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


class PostgresDatabase:
    """A schema of the tests' own, ``qbwc_test_<random>``, in the database at QBWC_TEST_POSTGRES_URL: created on
    first use, dropped at the end of the run. Every connection's search_path names it alone (``url`` carries it),
    so the tables, their sequences and alembic's version table all live there, and nothing else in that database
    is read or written. Migrated on first use, then emptied before each test; dropped and made again, empty, for
    a migration test, and migrated again after it."""

    def __init__(self, url: str) -> None:
        self.schema = f"qbwc_test_{secrets.token_hex(6)}"
        self.url = in_schema(url, self.schema)
        self._created = False
        self._emptying: list[str] | None = None
        """Statements that empty the migrated schema; None until it is migrated."""

    def empty(self) -> Engine:
        self._emptying = None
        engine = make_engine(self.url)
        with engine.begin() as conn:
            conn.execute(text("SET LOCAL lock_timeout = '10s'"))
            if self._created:
                conn.execute(text(f'DROP SCHEMA "{self.schema}" CASCADE'))
            conn.execute(text(f'CREATE SCHEMA "{self.schema}"'))  # fails, rather than share, if it exists
        self._created = True
        return engine

    def migrated(self) -> Engine:
        if self._emptying is None:
            engine = self.empty()
            upgrade(engine)
            self._emptying = _emptying_statements(engine)
            return engine
        engine = make_engine(self.url)
        with engine.begin() as conn:
            # A connection a test left open would make this wait for ever; fail instead.
            conn.execute(text("SET LOCAL lock_timeout = '10s'"))
            for statement in self._emptying:
                conn.execute(text(statement))
        return engine

    def drop(self) -> None:
        if not self._created:
            return
        engine = make_engine(self.url)
        try:
            with engine.begin() as conn:
                conn.execute(text("SET LOCAL lock_timeout = '10s'"))
                conn.execute(text(f'DROP SCHEMA "{self.schema}" CASCADE'))
        finally:
            engine.dispose()
        self._created = False


def in_schema(url: str, schema: str) -> str:
    """``url`` whose connections see ``schema`` alone (libpq's ``options``: ``-c search_path=...``)."""
    parsed = make_url(url)
    options = parsed.query.get("options", "")
    options = " ".join(options) if isinstance(options, tuple) else options
    return parsed.update_query_dict({"options": f"{options} -csearch_path={schema}".strip()}).render_as_string(
        hide_password=False)


def _emptying_statements(engine: Engine) -> list[str]:
    """Delete every row, children before parents, and restart the id sequences: the state right after the
    migrations. DELETE on the few rows a test leaves takes milliseconds; TRUNCATE, which replaces each
    table's and index's files, takes tens of milliseconds and more."""
    schema = inspect(engine)
    tables = [name for name, _fks in schema.get_sorted_table_and_fkc_names() if name and name.startswith("qbwc_")]
    sequences = [name for name in schema.get_sequence_names() if name.startswith("qbwc_")]
    return [*(f"DELETE FROM {name}" for name in reversed(tables)),
            *(f"ALTER SEQUENCE {name} RESTART" for name in sequences)]


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[PostgresDatabase]:
    assert POSTGRES_URL
    database = PostgresDatabase(POSTGRES_URL)
    yield database
    database.drop()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite file migrated to the newest schema; each test gets its own copy."""
    path = tmp_path_factory.mktemp("schema") / "migrated.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    # Leave WAL mode: this checkpoints the log into the file and removes it, so the file alone is the whole
    # database and a plain copy is consistent. Each copy is switched back to WAL when an engine opens it.
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA journal_mode=DELETE").fetchone() == ("delete",)
    assert not path.with_name(f"{path.name}-wal").exists()
    return path


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
        engine = request.getfixturevalue("postgres_database").empty()
    yield engine
    engine.dispose()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run the tests marked ``each_database`` on every engine (``engine_empty`` always is)."""
    if metafunc.definition.get_closest_marker("each_database") is None:
        return
    if "engine" in metafunc.fixturenames:
        metafunc.parametrize("engine", _database_params(), indirect=True)
    elif "engine_empty" not in metafunc.fixturenames:
        raise ValueError(f"{metafunc.definition.nodeid} is marked each_database but uses no database")


@pytest.fixture
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A database migrated to the newest schema, with no rows: SQLite, or each engine in turn for a test
    marked ``each_database``."""
    if getattr(request, "param", "sqlite") == "sqlite":
        path = tmp_path / "test.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        engine = make_engine(f"sqlite:///{path}")
    else:
        engine = request.getfixturevalue("postgres_database").migrated()
    yield engine
    engine.dispose()


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


_stopping: list[threading.Thread] = []
"""Servers told to stop. uvicorn takes 0.1 to 0.2 s to stop (a 0.1 s tick, then a fixed 0.1 s pause): the next
test runs meanwhile, and the run ends by checking they all stopped."""


@pytest.fixture(scope="session", autouse=True)
def _servers_stop() -> Iterator[None]:
    yield
    for thread in _stopping:
        thread.join(timeout=10)
    assert not any(thread.is_alive() for thread in _stopping), "a test server did not stop"


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
        instance.should_exit = True  # it stops taking requests within 0.1 s, on a port no other test uses
        _stopping.append(thread)
