"""A job's large columns (its payload, warnings, request, lookup and response XML), whose size has no bound: a sales
order of 260,000 lines makes hundreds of megabytes. What shows jobs reads them here, in pieces and never whole:
SQLite's incremental blob reader, PostgreSQL substrings."""

from __future__ import annotations

import codecs
from collections.abc import Generator, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Text, cast, func, select
from sqlalchemy.orm import Session, defer

from qbwc_service.db.models import Job
from qbwc_service.errors import JobNotFound

LARGE_COLUMNS = ("payload", "warnings", "request_xml", "lookup_xml", "response_xml")


@dataclass(frozen=True)
class Head:
    """The start of a large column: ``text`` is None when the column is NULL; ``size`` is its whole size in bytes."""

    text: str | None
    size: int

    @property
    def left_out(self) -> int:
        return self.size - len((self.text or "").encode("utf-8"))


def heads(db: Session, job_id: int, max_bytes: int) -> dict[str, Head]:
    """The first ``max_bytes`` or so of each large column, with its whole size."""
    return {column: Head(read_large_column_head(db, job_id, column, max_bytes),
                         large_column_size(db, job_id, column) or 0) for column in LARGE_COLUMNS}


def get_job_summary(db: Session, job_id: int) -> Job:
    """A job without its large columns (reading one raises): see :func:`large_column_size` and
    :func:`read_large_column` for those."""
    job = db.scalar(select(Job).where(Job.id == job_id)
                    .options(*(defer(getattr(Job, name), raiseload=True) for name in LARGE_COLUMNS)))
    if job is None:
        raise JobNotFound(job_id)
    return job


def large_column_size(db: Session, job_id: int, column: str) -> int | None:
    """The size in bytes (UTF-8) of one of a job's large columns, without reading it; None when it is NULL."""
    if db.get_bind().dialect.name == "sqlite":
        with _sqlite_blob(db, job_id, column) as blob:
            return None if blob is None else len(blob)
    return db.scalar(select(func.octet_length(_as_text(column))).where(Job.id == job_id))


def read_large_column(db: Session, job_id: int, column: str, chunk_bytes: int) -> Generator[str, None, None]:
    """One of a job's large columns as text, in chunks of about ``chunk_bytes``, never whole in memory: SQLite
    reads the stored value a piece at a time, PostgreSQL sends substrings (of ``chunk_bytes`` characters)."""
    if db.get_bind().dialect.name == "sqlite":
        decoder = codecs.getincrementaldecoder("utf-8")()
        with _sqlite_blob(db, job_id, column) as blob:
            while blob is not None and (data := blob.read(chunk_bytes)):
                if text := decoder.decode(data):
                    yield text
        if rest := decoder.decode(b"", final=True):
            yield rest
        return
    start = 1
    while part := db.scalar(select(func.substr(_as_text(column), start, chunk_bytes)).where(Job.id == job_id)):
        yield part
        if len(part) < chunk_bytes:
            return
        start += chunk_bytes


def read_large_column_head(db: Session, job_id: int, column: str, max_bytes: int) -> str | None:
    """The start of one of a job's large columns: about ``max_bytes`` (``max_bytes`` characters in PostgreSQL);
    None when it is NULL."""
    if large_column_size(db, job_id, column) is None:
        return None
    with closing(read_large_column(db, job_id, column, max_bytes)) as chunks:
        return next(chunks, "")


def _as_text(column: str) -> Any:
    return cast(getattr(Job, column), Text)


@contextmanager
def _sqlite_blob(db: Session, job_id: int, column: str) -> Iterator[Any]:
    """SQLite's incremental reader of one stored value (bytes, in the session's transaction); None for NULL."""
    assert column in LARGE_COLUMNS
    # typeof() reads the stored value's type alone; IS NULL would read the whole value.
    if db.scalar(select(func.typeof(getattr(Job, column))).where(Job.id == job_id)) == "null":
        yield None
        return
    raw = db.connection().connection.driver_connection
    assert raw is not None
    with raw.blobopen(Job.__tablename__, column, job_id, readonly=True) as blob:
        yield blob
