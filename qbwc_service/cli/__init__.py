"""The command line: serve, worker, poll, db upgrade, prune, connections, enqueue, stock, jobs, deliveries,
retrieve, orders, API keys,
simulate.

Each group lives in its own module; this one composes them and is the console script's entry point, the one
edge where every error becomes one line on stderr and a non-zero exit code (``--debug`` adds the traceback).

The rule that keeps it quick to start (``--help`` and the quick commands): a command module imports, at its top,
only the standard library, typer and rich, ``qbwc_service.cli._common`` and ``_inputs``, and the service's light
modules (``errors``, ``qbxml.errors``, ``db.enums``, ``clock``). Everything else (the settings, the database,
``usecases``, ``queue``, the job kinds, lxml, httpx, the web and SOAP stack) is imported inside the function of
the command that uses it; names needed only in annotations go under ``if TYPE_CHECKING:``. A helper module that
only commands import (``job_view``) may import what it needs. ``tests/unit/test_cli_imports.py`` loads the
command line and its help in a fresh interpreter and fails when a heavy module came along.
"""

from __future__ import annotations

import sys
import traceback
from dataclasses import dataclass
from typing import Annotated

import typer

from qbwc_service.cli import about, apikey, automation, connection, deliveries, server, work, worker
from qbwc_service.cli._common import err
from qbwc_service.errors import QbwcError
from qbwc_service.qbxml.errors import QbxmlError

app = typer.Typer(help="qbwc-service: Fusion Operations <-> QuickBooks Desktop over the Web Connector.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
app.command()(about.info)
app.command()(server.serve)
app.command()(worker.worker)
app.command()(server.prune)
app.add_typer(server.simulate_app, name="simulate")
app.command("secret-key")(connection.secret_key)
app.add_typer(server.db_app, name="db")
app.add_typer(connection.app, name="connection")
app.add_typer(work.enqueue_app, name="enqueue")
app.add_typer(work.stock_app, name="stock")
app.add_typer(work.jobs_app, name="jobs")
app.add_typer(deliveries.app, name="deliveries")
app.add_typer(apikey.app, name="apikey")
app.command()(automation.poll)
app.command()(automation.retrieve)
app.add_typer(automation.orders_app, name="orders")


@dataclass
class RunOptions:
    """What the options before the command ask of this run, read by :func:`main` once the command ends."""

    debug: bool = False


def _print_version(value: bool) -> None:
    if value:
        about.print_version()
        raise typer.Exit()


@app.callback()
def _options(
    ctx: typer.Context,
    debug: Annotated[bool, typer.Option("--debug", help="On an error, print its traceback too.")] = False,
    _version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                           help="Print the version and the database, and exit.")] = False,
) -> None:
    if isinstance(ctx.obj, RunOptions):
        ctx.obj.debug = debug


def main() -> None:
    """The console script. An error of any kind ends the run with one line on stderr saying what to do, exit
    code 2 for a command line that does not parse and 1 for the rest; ``--debug`` prints the traceback first."""
    options = RunOptions()
    try:
        code = app(prog_name="qbwc-service", standalone_mode=False, obj=options)
    except typer.TyperException as exc:  # the command line did not parse
        if type(exc).__name__ == "NoArgsIsHelpError":  # the help is printed already
            sys.exit(exc.exit_code)
        ctx = getattr(exc, "ctx", None)
        _fail(f"{_flat(exc.format_message())}{f' (see `{ctx.command_path} --help`)' if ctx else ''}", exc.exit_code)
    except typer.Abort:
        _fail("aborted", 1)
    except Exception as exc:  # noqa: BLE001 - the one edge where every error becomes a line
        if options.debug:
            traceback.print_exception(exc, file=sys.stderr)
        _fail(one_line(exc), 1)
    sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str, code: int) -> None:
    err.print(f"error: {message}", markup=False, highlight=False)
    sys.exit(code)


def one_line(exc: Exception) -> str:
    """What went wrong, on one line: our own errors say what to do; the rest say what failed."""
    if isinstance(exc, QbwcError | QbxmlError):
        return _flat(str(exc))
    from sqlalchemy.exc import DBAPIError, SQLAlchemyError

    if isinstance(exc, DBAPIError):
        text = f"the database refused the command: {_flat(str(exc.orig))}"
    elif isinstance(exc, SQLAlchemyError):
        text = f"database error: {_flat(str(exc))}"
    elif isinstance(exc, OSError):
        text = f"{exc.strerror or exc}{f': {exc.filename}' if exc.filename else ''}"
    else:
        text = f"unexpected {type(exc).__name__}: {_flat(str(exc))}"
    return f"{text} (`qbwc-service --debug ...` prints the traceback)"


def _flat(text: str) -> str:
    """Lines joined into one (a driver's message may hold several)."""
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())
