"""What every route of the API is given: settings, clock, the queue, and transactions to read or write in."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import HTTPConnection

from qbwc_service.clock import Clock
from qbwc_service.db.engine import make_sessionmaker, reading
from qbwc_service.queue import JobQueue
from qbwc_service.settings import Settings


@dataclass(frozen=True)
class ApiContext:
    settings: Settings
    clock: Clock
    job_queue: JobQueue
    writer: sessionmaker[Session]
    reader: sessionmaker[Session]

    @classmethod
    def build(cls, settings: Settings, engine: Engine, clock: Clock) -> ApiContext:
        return cls(settings, clock, JobQueue.for_settings(settings, clock), make_sessionmaker(engine),
                   make_sessionmaker(reading(engine)))

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One transaction, committed when the block ends (before the answer is sent), rolled back on an error."""
        with self.writer.begin() as db:
            yield db

    @contextmanager
    def read(self) -> Iterator[Session]:
        """One snapshot that takes no write lock."""
        with self.reader.begin() as db:
            yield db


def context_of(connection: HTTPConnection) -> ApiContext:
    context = connection.app.state.api_context
    assert isinstance(context, ApiContext)
    return context
