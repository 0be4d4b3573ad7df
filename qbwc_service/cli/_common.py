"""What every command shares: the consoles, settings, the database, JSON in and out, one-line failures."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

from rich.console import Console
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from qbwc_service.clock import SYSTEM_CLOCK
from qbwc_service.db.engine import make_sessionmaker
from qbwc_service.db.ready import is_sqlite, open_database
from qbwc_service.errors import QbwcError
from qbwc_service.queue import JobQueue
from qbwc_service.settings import Settings, load_settings

out = Console()
err = Console(stderr=True, soft_wrap=True)


def fail(message: str) -> NoReturn:
    raise QbwcError(message)


def current_settings() -> Settings:
    return load_settings()


def engine_for(settings: Settings) -> Engine:
    """The database, checked; brought up to date when it is SQLite (the zero set-up default), while another
    database must be upgraded with `db upgrade`."""
    return open_database(settings.database_url, create=True, migrate=is_sqlite(settings.database_url))


def job_queue() -> JobQueue:
    return JobQueue.for_settings(current_settings(), SYSTEM_CLOCK)


@contextmanager
def open_db() -> Iterator[Session]:
    settings = current_settings()
    engine = engine_for(settings)
    try:
        with make_sessionmaker(engine).begin() as db:
            yield db
    finally:
        engine.dispose()


def print_json(data: Any) -> None:
    out.print_json(json.dumps(data, default=str))


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {path}: {exc}")
    except json.JSONDecodeError as exc:
        fail(f"{path} is not JSON: {exc}")
