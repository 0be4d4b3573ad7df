"""poll, retrieve, orders close/reopen: the automatic mode's commands."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from qbwc_service.cli._common import JsonOption, current_settings, engine_for, job_queue, open_db, out, print_json

if TYPE_CHECKING:  # each command imports what it needs when it runs: the command line starts light
    from sqlalchemy.orm import Session, sessionmaker

    from qbwc_service.queue import Enqueued

orders_app = typer.Typer(help="Close or reopen a QuickBooks sales order sent from Fusion.", no_args_is_help=True)


@contextmanager
def session_factory() -> Iterator[sessionmaker[Session]]:
    """For the commands that talk to Fusion between transactions."""
    from qbwc_service.db.engine import make_sessionmaker

    engine = engine_for(current_settings())
    try:
        yield make_sessionmaker(engine)
    finally:
        engine.dispose()


def _line(made: Enqueued) -> str:
    return f"job {made.job.id} {'queued' if made.created else 'already queued'}: {made.job.kind} " \
           f"status={made.job.status}"


def _dict(made: Enqueued) -> dict[str, object]:
    return {"id": made.job.id, "kind": made.job.kind, "status": made.job.status, "created": made.created,
            "changed": made.changed}


def poll(
    once: Annotated[bool, typer.Option("--once", help="One pass, then exit (otherwise every "
                                       "fusion_poll_seconds until stopped).")] = False,
    connection: Annotated[str | None, typer.Option(help="With --once: only this connection.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Poll Fusion for the automatic send flows: what changed since each flow's cursor is queued. `serve` does it
    by itself unless fusion_poll is off; this runs it alone."""
    from qbwc_service.background import Runner, poll_task
    from qbwc_service.clock import SYSTEM_CLOCK
    from qbwc_service.logs import configure_logging
    from qbwc_service.poller import run_once
    from qbwc_service.queue import JobQueue

    settings = current_settings()
    with session_factory() as sessions:
        if not once:
            configure_logging(settings.log_level)
            try:
                Runner([poll_task(sessions, settings, SYSTEM_CLOCK)]).run_forever()
            except KeyboardInterrupt:
                return
            return
        report = run_once(sessions, settings, JobQueue.for_settings(settings, SYSTEM_CLOCK), SYSTEM_CLOCK,
                          only=connection)
    if as_json:
        print_json({"connections": report.connections, "seen": report.seen, "recognised": report.recognised,
                    "queued": report.queued, "refused": report.refused, "errors": report.errors})
    else:
        out.print(f"{report.connections} connections polled: {report.seen} entities changed, {report.recognised} "
                  f"seen before, {report.queued} jobs queued, {report.refused} not taken", markup=False,
                  highlight=False)
        for error in report.errors:
            out.print(f"error: {error}", markup=False, highlight=False)
    if report.errors:
        raise typer.Exit(1)


def retrieve(
    connection: str,
    since: Annotated[str, typer.Option(help="Every document created or modified after this date (2026-11-01) or "
                                       "date-time (2026-11-01T08:00:00), in the company's time.")],
    types: Annotated[str | None, typer.Option(help="Comma-separated: sales_order, purchase_order, invoice, "
                                              "estimate (default: all four).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Retrieve QuickBooks documents into the delivery outbox: one pull per type, from a date."""
    from qbwc_service import automation

    with open_db() as db:
        made = automation.retrieve_documents(db, job_queue(), connection, since, types)
        if as_json:
            print_json([_dict(one) for one in made])
            return
        for one in made:
            out.print(f"{_line(one)} ({one.job.payload['entity']} since {one.job.payload['since']})", markup=False,
                      highlight=False)


def _closing(connection: str, fusion_order_id: str, close: bool, as_json: bool) -> None:
    from qbwc_service import automation

    with open_db() as db:
        made = automation.close_order(db, job_queue(), connection, fusion_order_id, close=close)
        if as_json:
            print_json(_dict(made))
        else:
            out.print(_line(made), markup=False, highlight=False)


@orders_app.command("close")
def orders_close(connection: str, fusion_order_id: Annotated[str, typer.Argument(help="The Fusion sales order's id.")],
                 as_json: JsonOption = False) -> None:
    """Mark the QuickBooks sales order closed: its lines not fully invoiced (fully invoiced lines are left)."""
    _closing(connection, fusion_order_id, True, as_json)


@orders_app.command("reopen")
def orders_reopen(connection: str, fusion_order_id: Annotated[str, typer.Argument(help="The Fusion sales order's "
                                                                                  "id.")],
                  as_json: JsonOption = False) -> None:
    """Mark the QuickBooks sales order's closed lines (not fully invoiced) open again."""
    _closing(connection, fusion_order_id, False, as_json)
