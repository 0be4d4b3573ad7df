"""Opening the database a command names: it exists (or is created when the command writes), it answers, and it
holds the schema this version uses. Each problem is a typed error saying what to do
(:class:`~qbwc_service.errors.DatabaseProblem`), not the driver's traceback."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from qbwc_service.db.engine import make_engine
from qbwc_service.db.migrate import current_revision, head_revision, is_known_revision, upgrade
from qbwc_service.errors import DatabaseMissing, DatabaseUnavailable, SchemaNotCurrent


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL; None for another database, or SQLite in memory."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database).expanduser()


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def shown_url(url: str) -> str:
    """The URL as it may be printed: its password hidden."""
    return make_url(url).render_as_string(hide_password=True)


def open_database(url: str, *, create: bool, migrate: bool) -> Engine:
    """An engine on the database at ``url``, checked before any command uses it.

    A SQLite file that does not exist is created (its folder too) only when ``create``; else DatabaseMissing.
    A schema behind this version's is brought up to date when ``migrate``, else SchemaNotCurrent; a schema this
    version does not know (a newer version made it) is SchemaNotCurrent either way. A database that does not
    answer or is not a database is DatabaseUnavailable."""
    path = sqlite_file(url)
    if path is not None and not path.exists():
        if not create:
            raise DatabaseMissing(shown_url(url), path)
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = make_engine(url)
    try:
        current = current_revision(engine)
        head = head_revision()
        if current != head:
            known = current is None or is_known_revision(current)
            if not (migrate and known):
                raise SchemaNotCurrent(shown_url(url), current, head, known=known)
            upgrade(engine)
    except DBAPIError as exc:
        engine.dispose()
        raise unavailable(url, exc) from exc
    except BaseException:
        engine.dispose()
        raise
    return engine


def unavailable(url: str, exc: DBAPIError) -> DatabaseUnavailable:
    """The driver's refusal of ``url`` as one line that says what to do."""
    reason = "; ".join(line.strip() for line in str(exc.orig).splitlines() if line.strip()) or type(exc).__name__
    path = sqlite_file(url)
    if path is None:
        message = (f"cannot reach the database at {shown_url(url)}: {reason}; check that the database server is "
                   "running and that QBWC_DATABASE_URL names the right host, port, user, password and database")
    elif isinstance(exc, OperationalError):
        message = (f"cannot open the database {path}: {reason}; check that the file and its folder can be read "
                   "and written, or set QBWC_DATABASE_URL to another database")
    else:
        message = (f"cannot read the database {path}: {reason}; it is damaged or not a qbwc-service database: "
                   "restore it from a backup, or set QBWC_DATABASE_URL to another database")
    return DatabaseUnavailable(shown_url(url), reason, message)
