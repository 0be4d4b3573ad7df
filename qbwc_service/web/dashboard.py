"""The dashboard: every connection with its last contact, its health and its jobs by status, and the form that
creates a connection."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from qbwc_service import connections, queue
from qbwc_service.db.enums import AuthOutcome, JobStatus
from qbwc_service.db.models import Connection
from qbwc_service.web.base import pages_of, viewer
from qbwc_service.web.session import Visitor

router = APIRouter(include_in_schema=False)


class Health(StrEnum):
    OK = "ok"
    WAITING = "waiting"
    ATTENTION = "attention"
    FAILED = "failed"


@dataclass(frozen=True)
class ConnectionHealth:
    connection: Connection
    health: Health
    why: str
    jobs: dict[str, int]


def health_of(connection: Connection, jobs: dict[str, int], now: datetime) -> ConnectionHealth:
    """One word and one sentence for a connection: can its Web Connector work, and does anything need a person."""
    def made(health: Health, why: str) -> ConnectionHealth:
        return ConnectionHealth(connection, health, why, jobs)

    if connection.revoked_at is not None:
        return made(Health.FAILED, "The token is revoked: make a new one in the setup.")
    if connection.locked_until is not None and connection.locked_until > now:
        return made(Health.FAILED, f"Locked after refused passwords until {connection.locked_until:%H:%M} UTC.")
    refused_last = connection.last_failed_auth_at is not None and (
        connection.last_auth_at is None or connection.last_failed_auth_at > connection.last_auth_at)
    if refused_last:
        outcome = connection.last_failed_auth_outcome or AuthOutcome.WRONG_PASSWORD
        return made(Health.FAILED, f"The Web Connector's last try was refused ({outcome}).")
    if connection.last_contact_at is None:
        return made(Health.WAITING, "The Web Connector has not called yet: open the setup.")
    if connection.last_exchange_at is None and connection.last_connection_error:
        return made(Health.FAILED, connection.last_connection_error)
    stuck = {status: jobs.get(status, 0) for status in (JobStatus.DEAD, JobStatus.UNKNOWN) if jobs.get(status)}
    if stuck:
        return made(Health.ATTENTION, ", ".join(f"{count} {status}" for status, count in stuck.items())
                    + ": a person must look at them.")
    return made(Health.OK, "The Web Connector reaches the service.")


@router.get("/")
def dashboard(request: Request, visitor: Annotated[Visitor, Depends(viewer)]) -> Response:
    pages = pages_of(request)
    now = pages.context.clock.now()
    with pages.context.read() as db:
        rows = [health_of(c, queue.count_by_status(db, c.id), now) for c in connections.list_connections(db)]
        return pages.render(request, "dashboard.html", rows=rows, statuses=list(JobStatus))
