"""`qbwc-service worker`: the background work of `serve` (background.py: the delivery worker) in a process of its
own, until SIGTERM or SIGINT (exit code 0), or once (``--once``: deliver what is due, then exit; for tests and
cron). Several may run at once, beside `serve` processes too: each record is delivered by one of them."""

from __future__ import annotations

import logging
import signal
from types import FrameType
from typing import Annotated

import typer

from qbwc_service.cli._common import current_settings, engine_for, out, print_json


def worker(
    once: Annotated[bool, typer.Option("--once", help="Deliver what is due now, then exit.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="With --once: print the counts as JSON.")] = False,
) -> None:
    """Deliver the records pulled from QuickBooks to Fusion (what `serve` does in the background unless
    delivery_worker is false), until stopped."""
    from qbwc_service.background import Runner, delivery_task
    from qbwc_service.clock import SYSTEM_CLOCK
    from qbwc_service.db.engine import make_sessionmaker
    from qbwc_service.logs import configure_logging

    settings = current_settings()
    if not logging.getLogger().handlers:  # unless the host configured logging already (a test run)
        configure_logging(settings.log_level)
    engine = engine_for(settings)
    sessions = make_sessionmaker(engine)
    counts: dict[str, int] = {"delivered": 0, "skipped": 0, "failed": 0, "postponed": 0}
    task = delivery_task(sessions, settings, SYSTEM_CLOCK, report=lambda done: _add(counts, done))
    runner = Runner([task])
    try:
        if once:
            runner.run_once()
            if as_json:
                print_json(counts)
            else:
                out.print(", ".join(f"{n} {what}" for what, n in counts.items()), markup=False, highlight=False)
            return

        def stop(_signum: int, _frame: FrameType | None) -> None:
            runner.stop_soon()

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            runner.run_forever()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    finally:
        engine.dispose()


def _add(counts: dict[str, int], done: dict[str, int]) -> None:
    for what, n in done.items():
        counts[what] = counts.get(what, 0) + n
