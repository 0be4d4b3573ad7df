"""What `serve` does besides answering the Web Connector, in the background: every HEARTBEAT it moves its
process's heartbeat (processes.py) and records the end of the sessions the database cut off (outages.py); once a
day, by the service's clock, it prunes what the retention settings let go (retention.py), at most PRUNE_ROWS_PER_RUN
rows a run: a backlog goes on BACKLOG_PAUSE later, a run at a time.

It runs as the one task of a :class:`~qbwc_service.background.Runner` of its own (:meth:`Maintenance.runner`),
started and stopped with the app: a thread apart from the background work, so that a slow Fusion request never
holds back the heartbeat. Once its runs have ended, the same thread removes the process's row
(:meth:`Maintenance.forget`). A stop waits for it STOP_WAIT_SECONDS at most: a database that does not answer must
not keep the process from ending. Each part of a run is one short transaction; a failure is logged, and the next
run tries again."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from qbwc_service import processes, retention
from qbwc_service.background import Runner, ShouldStop, Task
from qbwc_service.clock import Clock
from qbwc_service.processes import ProcessIdentity
from qbwc_service.sessions import WebConnectorSessions
from qbwc_service.settings import Settings

log = logging.getLogger(__name__)

STOP_WAIT_SECONDS = 2.0
PRUNE_EVERY = timedelta(days=1)
PRUNE_ROWS_PER_RUN = 20_000
BACKLOG_PAUSE = timedelta(minutes=1)


class Maintenance:
    def __init__(self, sessions: sessionmaker[Session], protocol: WebConnectorSessions, settings: Settings,
                 clock: Clock, process: ProcessIdentity) -> None:
        self._db = sessions
        self._protocol = protocol
        self._settings = settings
        self._clock = clock
        self._process = process
        self.next_prune: datetime | None = None
        """When the next prune is due (None: at the next run)."""

    def runner(self) -> Runner:
        """A runner of one task, :meth:`run_once` every heartbeat, that ends with :meth:`forget`."""
        return Runner([Task("maintenance", processes.HEARTBEAT.total_seconds(), self._run)], name="qbwc-maintenance",
                      stop_wait=STOP_WAIT_SECONDS, at_end=self.forget)

    def _run(self, should_stop: ShouldStop) -> int:
        self.run_once(should_stop)
        return 0  # periodic, not a drain: the next run waits its interval

    def run_once(self, should_stop: ShouldStop = lambda: False) -> None:
        """One run: the heartbeat, the sessions the database cut off, and the prune when it is due (which ends after
        its current batch once ``should_stop`` says so)."""
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
        self._prune_when_due(should_stop)

    def _prune_when_due(self, should_stop: ShouldStop) -> None:
        now = self._clock.now()
        if self.next_prune is not None and now < self.next_prune:
            return
        try:
            report = retention.prune(self._db, self._settings, self._clock, max_rows=PRUNE_ROWS_PER_RUN,
                                     should_stop=should_stop)
        except Exception:
            log.exception("pruning failed; it is tried again in %s", BACKLOG_PAUSE)
            self.next_prune = now + BACKLOG_PAUSE
            return
        self.next_prune = now + (PRUNE_EVERY if report.complete else BACKLOG_PAUSE)
        if report.rows:
            log.info("pruned %d jobs, cleared %d kept for their key, %d events, %d sessions%s", report.jobs_deleted,
                     report.jobs_cleared, report.events_deleted, report.sessions_deleted,
                     "" if report.complete else "; more is left for the next run")

    def forget(self) -> None:
        """Remove the process's row, once its runs have ended: what its sessions hold is then free at once."""
        try:
            with self._db.begin() as db:
                processes.forget(db, self._process)
        except Exception:
            log.exception("the service's process row could not be removed; it is taken as gone once it is old")
