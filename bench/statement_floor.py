"""What the service's SQL costs by itself: the protocol in-process, beside the very statements it ran replayed
through the database driver alone (a benchmark, not a test).

For each batch size: queues N CustomerAdd jobs on a fresh database, copies it, and drains the queue with the
protocol (WebConnectorSessions, in-process: no HTTP, no SOAP) against the simulated QuickBooks company, noting every
statement, its parameters and every commit as the driver saw them. It then runs those statements, in the same
order, on the copy through the driver alone (sqlite3, or psycopg on PostgreSQL): what the database work costs
with nothing of SQLAlchemy, the queue, the job kinds or qbXML around it. The table gives the CPU (user + system) of
this process per job for each, the simulated QuickBooks left out, and the statements per job. The difference is the
Python around the statements: what a faster implementation of the same design could at most remove.

    .venv/bin/python bench/statement_floor.py --jobs 1000 --batch 1 50
    .venv/bin/python bench/statement_floor.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/qbwc_bench
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from _common import queue_jobs
from sqlalchemy import Engine, event, make_url, text

from qbwc_service.clock import SYSTEM_CLOCK
from qbwc_service.db.engine import make_engine, make_sessionmaker
from qbwc_service.sessions import WebConnectorSessions
from qbwc_service.settings import load_settings
from qbwc_service.simulate.quickbooks import QuickBooksCompany

COMMIT = "COMMIT"


@dataclass
class Drained:
    protocol_cpu: float
    statements: list[tuple[str, Any, bool]]


def drain(engine: Engine, batch: int, username: str, token: str) -> Drained:
    """Drain the queue in-process, noting what the driver was given; CPU of the protocol alone."""
    settings = load_settings(database_url=str(engine.url), batch_size=batch)
    protocol = WebConnectorSessions(make_sessionmaker(engine), settings, SYSTEM_CLOCK)
    company = QuickBooksCompany()
    ticket, _file = protocol.authenticate(username, token, "2.3.0.1", "127.0.0.1")
    noted: list[tuple[str, Any, bool]] = []

    def note(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, many: bool) -> None:
        noted.append((statement, parameters, many))

    def committed(_conn: Any) -> None:
        noted.append((COMMIT, None, False))

    event.listen(engine, "before_cursor_execute", note)
    event.listen(engine, "commit", committed)
    quickbooks = 0.0
    began = time.process_time()
    request = protocol.send_request_xml(ticket, company.hcp_response(), company.company_file, "US", 13, 0)
    while request:
        start = time.process_time()
        answer = company.process(request)
        quickbooks += time.process_time() - start
        protocol.receive_response_xml(ticket, answer, "", "")
        request = protocol.send_request_xml(ticket, "", company.company_file, "US", 13, 0)
    used = time.process_time() - began - quickbooks
    event.remove(engine, "before_cursor_execute", note)
    event.remove(engine, "commit", committed)
    protocol.close_connection(ticket)
    return Drained(used, noted)


def replay_sqlite(path: Path, statements: list[tuple[str, Any, bool]]) -> float:
    db = sqlite3.connect(path, isolation_level=None)
    for pragma in ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA foreign_keys=ON"):
        db.execute(pragma)
    began = time.process_time()
    for statement, parameters, many in statements:
        if statement == COMMIT:
            db.execute("COMMIT")
        elif many:
            db.executemany(statement, parameters)
        else:
            db.execute(statement, parameters).fetchall()
    used = time.process_time() - began
    db.close()
    return used


def replay_postgres(url: str, statements: list[tuple[str, Any, bool]]) -> float:
    with psycopg.connect(url) as db:
        began = time.process_time()
        cursor = db.cursor()
        for statement, parameters, many in statements:
            if statement == COMMIT:
                db.commit()
            elif many:
                cursor.executemany(statement, parameters)
            else:
                cursor.execute(statement, parameters)
                if cursor.description is not None:
                    cursor.fetchall()
        return time.process_time() - began


def prepared(database_url: str | None, workdir: Path, batch: int, jobs: int) -> tuple[Engine, str, str, str]:
    """A fresh database with ``jobs`` CustomerAdd jobs on one connection, and a copy of it to replay on: (engine,
    username, token, the copy's URL or path)."""
    url, username, token = queue_jobs(database_url, workdir, f"floor-{batch}", jobs)
    if database_url is None:
        copy = workdir / f"floor-{batch}-copy.db"
        shutil.copy(make_url(url).database or "", copy)
        return make_engine(url), username, token, str(copy)
    source = make_url(url)
    copy_name = f"{source.database}_replay"
    admin = make_engine(str(source.set(database="postgres")), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{copy_name}"'))
        conn.execute(text(f'CREATE DATABASE "{copy_name}" TEMPLATE "{source.database}"'))
    admin.dispose()
    copy_url = source.set(drivername="postgresql", database=copy_name).render_as_string(hide_password=False)
    return make_engine(url), username, token, copy_url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 50])
    parser.add_argument("--database-url", help="a PostgreSQL database of its own (its tables are dropped; a copy "
                        "named after it with '_replay' is made beside it)")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for batch in args.batch:
            engine, username, token, copy = prepared(args.database_url, Path(tmp), batch, args.jobs)
            drained = drain(engine, batch, username, token)
            engine.dispose()
            if args.database_url is None:
                replayed = replay_sqlite(Path(copy), drained.statements)
            else:
                replayed = replay_postgres(copy, drained.statements)
            count = sum(1 for statement, _p, _m in drained.statements if statement != COMMIT)
            commits = len(drained.statements) - count
            rows.append((batch, drained.protocol_cpu, replayed, count, commits))
    engine_name = "postgresql" if args.database_url else "sqlite"
    print(f"{args.jobs} CustomerAdd jobs per batch size on {engine_name}, in-process; CPU of this process per job, ms "
          "(the simulated QuickBooks left out)\n")
    print(f"{'batch':>6} {'protocol':>9} {'driver':>9} {'share':>7} {'statements':>11} {'commits':>8}")
    for batch, protocol_cpu, replayed, count, commits in rows:
        print(f"{batch:>6} {protocol_cpu / args.jobs * 1000:>9.3f} {replayed / args.jobs * 1000:>9.3f} "
              f"{replayed / protocol_cpu:>6.0%} {count / args.jobs:>11.2f} {commits / args.jobs:>8.2f}")
    print("\nprotocol: the protocol's CPU; driver: the same statements through the driver alone; share: the driver's "
          "part; statements and commits: per job")


if __name__ == "__main__":
    main()
