"""When a service process is gone (processes.is_gone): what lets a Web Connector's new session replace the
session a crashed process served, without letting it replace one a live process serves."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from datetime import datetime

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from qbwc_service import processes
from qbwc_service.app import create_app
from qbwc_service.clock import FakeClock
from qbwc_service.db.models import ServiceProcess
from qbwc_service.processes import GONE_AFTER, ProcessIdentity, this_process
from qbwc_service.settings import Settings

NOW = datetime(2026, 12, 3, 12, 0)


def _finished_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True, timeout=30)
    return int(done.stdout)


@pytest.mark.each_database
def test_a_process_is_gone_when_its_row_its_heartbeat_or_its_pid_says_so(sessions: sessionmaker[Session]) -> None:
    me = ProcessIdentity()
    alive_here = ProcessIdentity(pid=os.getppid())  # the test runner's parent: running, on this machine
    crashed_here = ProcessIdentity(pid=_finished_pid())
    before_me = ProcessIdentity(pid=me.pid)  # the process that had this pid before this one
    elsewhere = ProcessIdentity(host="another-machine", pid=_finished_pid())
    quiet = ProcessIdentity(host="another-machine")
    with sessions.begin() as db:
        for other in (alive_here, crashed_here, before_me, elsewhere):
            processes.beat(db, other, NOW)
        processes.beat(db, quiet, NOW - GONE_AFTER - GONE_AFTER)
        processes.beat(db, quiet, NOW - GONE_AFTER - GONE_AFTER)  # a second beat updates the one row
    with sessions.begin() as db:
        assert not processes.is_gone(db, me.id, me, NOW)  # this process
        assert not processes.is_gone(db, None, me, NOW)  # a session from before processes were recorded
        assert not processes.is_gone(db, alive_here.id, me, NOW)
        assert not processes.is_gone(db, elsewhere.id, me, NOW)  # a pid elsewhere means nothing here: its beat says
        assert processes.is_gone(db, crashed_here.id, me, NOW)  # its pid runs nothing: gone at once
        assert processes.is_gone(db, before_me.id, me, NOW)
        assert processes.is_gone(db, quiet.id, me, NOW)  # no heartbeat for too long
        assert processes.is_gone(db, "never-seen", me, NOW)
        assert processes.is_gone(db, elsewhere.id, me, NOW + GONE_AFTER + GONE_AFTER)
        processes.forget(db, alive_here)
        assert processes.is_gone(db, alive_here.id, me, NOW)  # stopped cleanly
        assert processes.prune(db, NOW - GONE_AFTER) == 1  # the quiet one's row


def _rows(sessions: sessionmaker[Session]) -> list[tuple[str, int]]:
    with sessions() as db:
        return [(row.id, row.pid) for row in db.scalars(select(ServiceProcess))]


def _threads() -> set[str]:
    return {thread.name for thread in threading.enumerate()}


def test_the_app_beats_in_a_thread_of_its_own_while_it_runs_and_removes_its_row_when_it_stops(
        settings: Settings, engine: Engine, sessions: sessionmaker[Session]) -> None:
    app = create_app(settings.model_copy(update={"delivery_worker": False, "fusion_poll": False}), engine,
                     FakeClock())
    rows_seen: list[tuple[str, int]] = []
    threads_seen: set[str] = set()

    async def serve_a_while() -> None:
        async with app.router.lifespan_context(app):
            deadline = time.monotonic() + 10
            while not _rows(sessions):
                assert time.monotonic() < deadline, "no heartbeat within 10 s of the start"
                await asyncio.sleep(0.02)
            rows_seen.extend(_rows(sessions))
            threads_seen.update(_threads())

    asyncio.run(serve_a_while())
    assert rows_seen == [(this_process().id, os.getpid())]
    assert "qbwc-maintenance" in threads_seen
    assert "qbwc-background" not in threads_seen  # no background task is on
    assert _rows(sessions) == []  # removed by the maintenance thread as it ended, before the stop returned
    assert "qbwc-maintenance" not in _threads()
