"""What every command shares: the consoles, settings, the database, JSON in and out, one-line failures."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console, ConsoleDimensions

from qbwc_service.errors import QbwcError

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

    from qbwc_service.queue import JobQueue
    from qbwc_service.settings import Settings

UNBOUNDED = 1_000_000
"""The width of an output that is not a terminal: lines as long as their content."""


class Output(Console):
    """A console whose width is the terminal's, and unbounded when it is not a terminal (a file, a pipe): what a
    command prints there is never wrapped or cut at 80 columns. Plain text is never wrapped (``soft_wrap``)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(soft_wrap=True, **kwargs)

    @property
    def size(self) -> ConsoleDimensions:
        size = super().size
        return size if self.is_terminal else ConsoleDimensions(UNBOUNDED, size.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        self.width, self.height = new_size


out = Output()
err = Output(stderr=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def fail(message: str) -> NoReturn:
    raise QbwcError(message)


def current_settings() -> Settings:
    from qbwc_service.settings import load_settings

    return load_settings()


def engine_for(settings: Settings, *, create: bool = False, migrate: bool | None = None) -> Engine:
    """The database, checked; brought up to date when it is SQLite (the zero set-up default) or ``migrate``,
    while another database must be upgraded with `db upgrade`. A SQLite file that does not exist is created only when
    ``create`` (the commands that start from nothing: `connection create`, `db upgrade`, `serve`), saying so;
    any other command is refused with one line naming the file, rather than run on a new, empty database."""
    from qbwc_service.db.ready import is_sqlite, open_database, sqlite_file

    url = settings.database_url
    _note_an_old_default_database(url)
    path = sqlite_file(url)
    new = path is not None and not path.exists()
    engine = open_database(url, create=create, migrate=is_sqlite(url) if migrate is None else migrate)
    if new:
        err.print(f"note: created a new database at {path}", markup=False, highlight=False)
    return engine


def _note_an_old_default_database(url: str) -> None:
    """Where the database was by default before it moved to the user's data folder: the working directory."""
    from qbwc_service.db.ready import sqlite_file
    from qbwc_service.settings import DATABASE_FILE_NAME, default_database_url

    old = Path(DATABASE_FILE_NAME)
    if url == default_database_url() and old.is_file():
        err.print(f"note: ./{old} is not used; the default database is {sqlite_file(url)}. To use "
                  f"this one, set QBWC_DATABASE_URL=sqlite:///{old.resolve().as_posix()} (or move "
                  "it there)", markup=False, highlight=False)


def job_queue() -> JobQueue:
    from qbwc_service.clock import SYSTEM_CLOCK
    from qbwc_service.queue import JobQueue

    return JobQueue.for_settings(current_settings(), SYSTEM_CLOCK)


@contextmanager
def open_db(*, read_only: bool = False, create: bool = False) -> Iterator[Session]:
    """A transaction on the settings' database, committed when the block ends; ``read_only`` for a command that
    only reads: it takes no write lock, and sees one snapshot however long it runs. ``create``: see
    :func:`engine_for`."""
    from qbwc_service.db.engine import make_sessionmaker, reading

    settings = current_settings()
    engine = engine_for(settings, create=create)
    try:
        with make_sessionmaker(reading(engine) if read_only else engine).begin() as db:
            yield db
    finally:
        engine.dispose()


def print_json(data: Any) -> None:
    """JSON on stdout: highlighted on a terminal, exactly as json.dumps makes it anywhere else."""
    text = json.dumps(data, indent=2, default=str)
    if out.is_terminal:
        out.print_json(text)
    else:
        write(text + "\n")


def write(text: str) -> None:
    """Text on stdout exactly as given: no markup, no wrapping, no cropping (XML, JSON)."""
    out.file.write(text)


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {path}: {exc}")
    except json.JSONDecodeError as exc:
        fail(f"{path} is not JSON: {exc}")
