"""Periodic work outside the Web Connector's requests: a :class:`Runner` runs :class:`Task` s, each every its own
interval, in one daemon thread. `serve` starts one in its lifespan (the delivery worker unless
``delivery_worker = false``, the Fusion poller unless ``fusion_poll = false``), and another for its maintenance
(maintenance.py: the heartbeat must not wait on a Fusion request); `qbwc-service worker` and `qbwc-service poll` run
one in the foreground until SIGTERM/SIGINT, or once (``--once``).

A task's run is given ``should_stop``; a failed run is logged and the task runs again at its next turn. Stopping
waits STOP_WAIT_SECONDS at most for the run in progress: a Fusion request that hangs must not keep the
process from ending (the record it held is taken over by another worker once its lease runs out)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from qbwc_service.clock import Clock
from qbwc_service.delivery_worker import ClientFactory, DeliveryWorker
from qbwc_service.settings import Settings

log = logging.getLogger(__name__)

STOP_WAIT_SECONDS = 5.0
ShouldStop = Callable[[], bool]


@dataclass
class Task:
    """``run(should_stop)`` every ``interval`` seconds; it returns how much it did (0: nothing was due)."""

    name: str
    interval: float
    run: Callable[[ShouldStop], int]
    next_at: float = 0.0


class Runner:
    """Runs its tasks in a daemon thread named ``name`` (or in the caller's: :meth:`run_once`, :meth:`run_forever`);
    a stop waits ``stop_wait`` seconds at most for the run in progress. ``at_end`` is called once the runs have
    ended, in the same thread."""

    def __init__(self, tasks: list[Task], *, name: str = "qbwc-background", stop_wait: float = STOP_WAIT_SECONDS,
                 at_end: Callable[[], None] | None = None) -> None:
        self.tasks = tasks
        self.name, self.stop_wait, self.at_end = name, stop_wait, at_end
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> int:
        """Each task once, until it has nothing left to do now; how much was done in all."""
        done = 0
        for task in self.tasks:
            while not self._stopping.is_set():
                did = self._run(task)
                done += did
                if did == 0:
                    break
        return done

    def run_forever(self) -> None:
        """Each task at its interval (at once again while it finds work), until :meth:`stop`; then ``at_end``."""
        while not self._stopping.is_set():
            now = time.monotonic()
            for task in self.tasks:
                if now >= task.next_at and not self._stopping.is_set():
                    did = self._run(task)
                    task.next_at = now if did else now + task.interval
            upcoming = min(task.next_at for task in self.tasks) if self.tasks else now + 1.0
            self._stopping.wait(max(upcoming - time.monotonic(), 0.0))
        if self.at_end is not None:
            self.at_end()

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self.run_forever, name=self.name, daemon=True)
        self._thread.start()

    def stop_soon(self) -> None:
        """Ask the runs to end (from a signal handler): the run in progress ends after the record it is on."""
        self._stopping.set()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(self.stop_wait)
            if self._thread.is_alive():
                log.warning("the background work (%s) did not stop within %g s; it ends with the process", self.name,
                            self.stop_wait)
            self._thread = None

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def _run(self, task: Task) -> int:
        try:
            return task.run(self._stopping.is_set)
        except Exception:
            log.exception("the background task %r failed; it runs again in %g s", task.name, task.interval)
            return 0


def delivery_task(sessions: sessionmaker[Session], settings: Settings, clock: Clock, *,
                  open_client: ClientFactory | None = None,
                  report: Callable[[dict[str, int]], None] | None = None) -> Task:
    """The delivery worker as a task: each run delivers what is due (see delivery_worker.py); ``report`` is told
    the counts of each run."""
    worker = DeliveryWorker(sessions, settings, clock, open_client=open_client)

    def run(should_stop: ShouldStop) -> int:
        done = worker.run_once(should_stop)
        counts = {"delivered": done.delivered, "skipped": done.skipped, "failed": done.failed,
                  "postponed": done.postponed}
        if done.handled:
            log.info("deliveries: %d delivered, %d skipped, %d failed, %d to try again", done.delivered,
                     done.skipped, done.failed, done.postponed)
        if report is not None:
            report(counts)
        return done.delivered + done.skipped + done.failed

    return Task("deliveries", settings.delivery_poll_seconds, run)


def poll_task(sessions: sessionmaker[Session], settings: Settings, clock: Clock) -> Task:
    """The Fusion poller as a task: each run is one pass over the automatic send flows (see poller.py). A pass is
    periodic, not a drain: it reports 0 so that the next one waits its interval."""
    from qbwc_service import poller
    from qbwc_service.queue import JobQueue

    job_queue = JobQueue.for_settings(settings, clock)

    def run(_should_stop: ShouldStop) -> int:
        report = poller.run_once(sessions, settings, job_queue, clock)
        if report.queued or report.errors:
            log.info("Fusion polled: %d connections, %d changed, %d jobs queued, %d refused, %d errors",
                     report.connections, report.seen, report.queued, report.refused, len(report.errors))
        return 0

    return Task("fusion-poll", settings.fusion_poll_seconds, run)


def service_tasks(sessions: sessionmaker[Session], settings: Settings, clock: Clock) -> list[Task]:
    """The tasks `serve` runs in the background, as the settings choose."""
    tasks = [delivery_task(sessions, settings, clock)] if settings.delivery_worker else []
    if settings.fusion_poll:
        tasks.append(poll_task(sessions, settings, clock))
    return tasks
