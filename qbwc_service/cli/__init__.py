"""The command line: serve, db upgrade, connections, enqueue, stock, jobs, simulate.

Each group lives in its own module; this one composes them and is the console script's entry point.
"""

from __future__ import annotations

import sys

import typer

from qbwc_service.cli import connection, server, work
from qbwc_service.cli._common import err
from qbwc_service.errors import QbwcError
from qbwc_service.qbxml.errors import QbxmlError

app = typer.Typer(help="qbwc-service: Fusion Operations <-> QuickBooks Desktop over the Web Connector.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
app.command()(server.serve)
app.command()(server.simulate)
app.add_typer(server.db_app, name="db")
app.add_typer(connection.app, name="connection")
app.add_typer(work.enqueue_app, name="enqueue")
app.add_typer(work.stock_app, name="stock")
app.add_typer(work.jobs_app, name="jobs")


def main() -> None:
    try:
        app()
    except (QbwcError, QbxmlError) as exc:
        err.print(f"error: {exc}", markup=False, highlight=False)
        sys.exit(1)
