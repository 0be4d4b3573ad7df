"""The service's processes, and whether one is gone: what tells a session that cannot be alive any more.

Each process serving the Web Connector has an identity (a random id, its machine, its pid). It keeps a row in
``qbwc_processes`` whose ``seen_at`` it moves every HEARTBEAT while it runs (`serve` does so in the background,
maintenance.py), and deletes at a clean stop. A session records the process that served
its latest call. That process is gone when its row is missing, when its heartbeat is older than GONE_AFTER, or,
on the same machine and process namespace, at once: when its pid runs nothing, or is this process's own pid.
"""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from qbwc_service.db.models import ServiceProcess

HEARTBEAT = timedelta(seconds=10)
GONE_AFTER = 3 * HEARTBEAT


@dataclass(frozen=True)
class ProcessIdentity:
    id: str = field(default_factory=lambda: secrets.token_hex(16))
    host: str = field(default_factory=lambda: this_host())
    pid: int = field(default_factory=os.getpid)


_ours: dict[int, ProcessIdentity] = {}


def this_process() -> ProcessIdentity:
    """This process's identity, made on first use (a forked child gets its own)."""
    return _ours.setdefault(os.getpid(), ProcessIdentity())


def this_host() -> str:
    """The machine's name and, where the system tells it, its process namespace (containers on one machine have
    their own pids): two processes with the same ``host`` can see each other's pids."""
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = ""
    return f"{socket.gethostname()} {namespace}".strip()[:255]


def beat(db: Session, me: ProcessIdentity, now: datetime) -> None:
    """Record that ``me`` is alive now (its row made on the first beat)."""
    values = {"id": me.id, "host": me.host, "pid": me.pid, "started_at": now, "seen_at": now}
    dialect = db.get_bind().dialect.name
    stmt: Any
    if dialect == "postgresql":
        stmt = postgresql.insert(ServiceProcess).values(values)
        stmt = stmt.on_conflict_do_update(index_elements=["id"], set_={"seen_at": stmt.excluded.seen_at})
    elif dialect == "sqlite":
        stmt = sqlite.insert(ServiceProcess).values(values)
        stmt = stmt.on_conflict_do_update(index_elements=["id"], set_={"seen_at": stmt.excluded.seen_at})
    else:  # pragma: no cover - only the two supported engines reach here
        stmt = insert(ServiceProcess).values(values)
    db.execute(stmt)


def forget(db: Session, me: ProcessIdentity) -> None:
    """``me`` stops: what it held is free at once."""
    db.execute(delete(ServiceProcess).where(ServiceProcess.id == me.id))


def is_gone(db: Session, process_id: str | None, me: ProcessIdentity, now: datetime) -> bool:
    """Whether the process ``process_id`` has certainly stopped (None, from before processes were recorded, and
    this process itself are never gone)."""
    if process_id is None or process_id == me.id:
        return False
    other = db.get(ServiceProcess, process_id)
    if other is None or other.seen_at < now - GONE_AFTER:
        return True
    return other.host == me.host and (other.pid == me.pid or not _runs(other.pid))


def prune(db: Session, before: datetime) -> int:
    """Delete the rows of processes not seen since ``before`` (stopped without saying so)."""
    result = db.execute(delete(ServiceProcess).where(ServiceProcess.seen_at < before)
                        .execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)


def count_before(db: Session, before: datetime) -> int:
    """How many rows :func:`prune` would delete."""
    return db.scalar(select(func.count()).select_from(ServiceProcess).where(ServiceProcess.seen_at < before)) or 0


def _runs(pid: int) -> bool:
    """Whether a process with this pid runs here; True when the system cannot say (not POSIX: there, signal 0
    would not be a question)."""
    if os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it runs, as another user
        return True
    return True
