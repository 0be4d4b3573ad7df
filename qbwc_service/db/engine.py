"""Engine and session factories; SQLite gets WAL, a busy timeout and foreign keys. No engine puts parameter
values in its messages (``hide_parameters``): a database error logged with its statement names no token,
username or payload."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, hide_parameters=True,
                               **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling defers BEGIN; emit it ourselves so that
        # a claim's UPDATE and its read happen in one write transaction (a reading engine's only reads).
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql(
            "BEGIN" if conn.get_execution_options().get(_READING) else "BEGIN IMMEDIATE"))
        return engine
    return create_engine(url, pool_pre_ping=True, hide_parameters=True, **kwargs)


_READING = "qbwc_reading"


def reading(engine: Engine) -> Engine:
    """The same database for transactions that only read: one snapshot, and no write lock (SQLite's deferred
    BEGIN in WAL mode; PostgreSQL's REPEATABLE READ, READ ONLY), so that a long read (a job's whole XML sent
    down a slow pipe) never holds up the service's writes nor sees them half-way."""
    if engine.dialect.name == "sqlite":
        return engine.execution_options(**{_READING: True})
    return engine.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
