"""What `serve` does besides answering the Web Connector, in the background: every HEARTBEAT it moves its
process's heartbeat (processes.py) and records the end of the sessions the database cut off (cut_off.py).

It runs in a daemon thread of its own, started and stopped with the app. A stop waits for it STOP_WAIT_SECONDS
at most: a database that does not answer must not keep the process from ending. Each part of a run is one short
transaction; a failure is logged, and the next run tries again."""

from __future__ import annotations

import logging
import threading

from sqlalchemy.orm import Session, sessionmaker

from qbwc_service import processes
from qbwc_service.clock import Clock
from qbwc_service.processes import ProcessIdentity
from qbwc_service.sessions import WebConnectorSessions

log = logging.getLogger(__name__)

STOP_WAIT_SECONDS = 2.0


class Maintenance:
    def __init__(self, sessions: sessionmaker[Session], protocol: WebConnectorSessions, clock: Clock,
                 process: ProcessIdentity) -> None:
        self._db = sessions
        self._protocol = protocol
        self._clock = clock
        self._process = process
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> None:
        """One run: the heartbeat, then the sessions the database cut off."""
        try:
            with self._db.begin() as db:
                processes.beat(db, self._process, self._clock.now())
        except Exception:
            log.exception("the service's heartbeat could not be recorded")
            return  # the database does not answer: nothing else can be done now
        try:
            if ended := self._protocol.end_cut_off_sessions():
                log.info("%d sessions cut off by the database ended", ended)
        except Exception:
            log.exception("the sessions cut off by the database could not be ended yet")

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="qbwc-maintenance", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the runs, and remove the process's row (what its sessions hold is then free at once)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(STOP_WAIT_SECONDS)
            self._thread = None

    def _loop(self) -> None:
        interval = processes.HEARTBEAT.total_seconds()
        while True:
            self.run_once()
            if self._stopping.wait(interval):
                break
        try:
            with self._db.begin() as db:
                processes.forget(db, self._process)
        except Exception:
            log.exception("the service's process row could not be removed; it is taken as gone once it is old")
