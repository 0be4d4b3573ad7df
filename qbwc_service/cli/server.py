"""serve, db upgrade, prune, simulate."""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer

from qbwc_service.cli._common import JsonOption, current_settings, engine_for, err, fail, out, print_json
from qbwc_service.logs import configure_logging

log = logging.getLogger(__name__)

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)

SHUTDOWN_GRACE_SECONDS = 5
"""On SIGTERM or Ctrl-C, requests in flight get this long to finish; then they are cancelled and the process
ends (a Web Connector whose answer was cut off sees a failed call, as with any network failure)."""


def serve(
    host: Annotated[str | None, typer.Option(help="Overrides QBWC_HOST.")] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="Overrides QBWC_PORT.")] = None,
) -> None:
    """Run the service: SOAP for the Web Connector at /qbwc, health at /healthz."""
    import uvicorn

    from qbwc_service.app import create_app

    settings = current_settings()
    configure_logging(settings.log_level)
    engine = engine_for(settings, create=True)
    with _stop_signals_end_cleanly():
        uvicorn.run(create_app(settings, engine), host=host or settings.host, port=port or settings.port,
                    log_level=settings.log_level.lower(), log_config=None, proxy_headers=True, server_header=False,
                    timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS)
    engine.dispose()


@contextmanager
def _stop_signals_end_cleanly() -> Iterator[None]:
    """A stop asked for by SIGTERM (systemd, docker) or SIGINT is a clean end, exit code 0.

    uvicorn shuts down on these signals, then raises the signal again into the handler it found installed;
    the default handlers would end the process by the signal (exit code 143) or with a KeyboardInterrupt.
    The handler installed here notes the signal instead."""
    received: list[int] = []

    def note(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)

    handlers: dict[signal.Signals, Callable[[int, FrameType | None], Any] | int | None] = {
        sig: signal.signal(sig, note) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    if received:
        log.info("stopped by %s", signal.Signals(received[0]).name)


@db_app.command("upgrade")
def db_upgrade(as_json: JsonOption = False) -> None:
    """Create or migrate the schema to the newest revision."""
    from qbwc_service.db.migrate import current_revision

    engine = engine_for(current_settings(), create=True, migrate=True)
    revision = current_revision(engine)
    engine.dispose()
    if as_json:
        print_json({"revision": revision})
    else:
        out.print(f"database at revision {revision}")


def prune(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count what would go, and change nothing.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Delete what the retention settings let go: done and cancelled jobs and their events (retention_done_days),
    ended sessions and old events (retention_history_days). `serve` does it by itself once a day."""
    from qbwc_service import usecases
    from qbwc_service.db.engine import make_sessionmaker

    settings = current_settings()
    engine = engine_for(settings)
    try:
        report = usecases.prune(make_sessionmaker(engine), settings, dry_run=dry_run)
    finally:
        engine.dispose()
    if as_json:
        print_json({"dry_run": dry_run, "jobs_deleted": report.jobs_deleted, "jobs_cleared": report.jobs_cleared,
                    "events_deleted": report.events_deleted, "sessions_deleted": report.sessions_deleted,
                    "processes_deleted": report.processes_deleted})
        return
    if dry_run:
        out.print(f"would prune: {report.jobs_deleted} jobs to delete, {report.jobs_cleared} to keep for their key "
                  f"without their XML and events, {report.events_deleted} events and {report.sessions_deleted} "
                  "sessions to delete", markup=False, highlight=False)
    else:
        out.print(f"pruned: {report.jobs_deleted} jobs deleted, {report.jobs_cleared} kept for their key without their "
                  f"XML and events, {report.events_deleted} events and {report.sessions_deleted} sessions deleted",
                  markup=False, highlight=False)


simulate_app = typer.Typer(invoke_without_command=True)


@simulate_app.callback()
def simulate(
    ctx: typer.Context,
    url: Annotated[str | None, typer.Option(help="The service's SOAP URL, e.g. http://localhost:8080/qbwc.")] = None,
    username: Annotated[str | None, typer.Option(help="The connection's Web Connector username.")] = None,
    password: Annotated[str | None, typer.Option(help="The connection's token.")] = None,
    company_name: Annotated[str | None, typer.Option(help="Name of the simulated company.")] = None,
    country: Annotated[str | None, typer.Option(help="US, CA or UK.")] = None,
    company_file: Annotated[str | None, typer.Option(help="The path of the open company file (to try the same "
                                                     "company on another computer).")] = None,
    seed: Annotated[Path | None, typer.Option(help="A JSON company file to start from (default: a small "
                                              "manufacturer shipped with the simulator).")] = None,
    state: Annotated[Path | None, typer.Option(help="Keep the simulated company in this file between runs.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Run one Web Connector session against a simulated QuickBooks company (a test double: no
    QuickBooks is involved) and print what happened. `simulate fusion` runs a simulated Fusion Operations API."""
    if ctx.invoked_subcommand is not None:
        return
    missing = [f"--{name}" for name, value in (("url", url), ("username", username), ("password", password))
               if not value]
    if missing:
        err.print(f"error: missing option {', '.join(missing)} (see `qbwc-service simulate --help`)", markup=False,
                  highlight=False)
        raise typer.Exit(2)
    assert url and username and password
    from qbwc_service.simulate.quickbooks import SEED_COMPANY, CompanyFileError, QuickBooksCompany
    from qbwc_service.simulate.webconnector import WebConnectorClient, WebConnectorError

    settings: dict[str, Any] = {k: v for k, v in (("company_name", company_name), ("country", country)) if v}
    try:
        company = QuickBooksCompany.from_seed(seed or SEED_COMPANY, state_file=state, **settings)
    except CompanyFileError as exc:
        fail(str(exc))
    if company_file:
        company.company_file = company_file  # the same books, opened from another path
    client = WebConnectorClient(url, username, password, company)
    try:
        report = client.run_session()
    except WebConnectorError as exc:
        fail(str(exc))
    if as_json:
        print_json({"outcome": report.outcome, "message_sets": report.message_sets,
                    "last_percent": report.last_percent, "last_error": report.last_error or None,
                    "warnings": report.warnings,
                    "calls": [{"method": method, "summary": summary} for method, summary in report.calls]})
    else:
        for method, summary in report.calls:
            out.print(f"{method:<20} {summary}", markup=False, highlight=False)
        out.print(f"outcome: {report.outcome}; message sets: {report.message_sets}; "
                  f"last percent: {report.last_percent}", markup=False)
        if report.last_error:
            out.print(f"last error: {report.last_error}", markup=False)
    if report.outcome not in ("done", "nothing-to-do"):
        raise typer.Exit(1)


@simulate_app.command("fusion")
def simulate_fusion(
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 9000,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    seed: Annotated[Path | None, typer.Option(help="A JSON seed of your own (default: the demo account, the same "
                                              "documents as examples/).")] = None,
    requests_per_minute: Annotated[int, typer.Option(min=1, help="Each account's budget; beyond it, 429.")] = 120,
    page_size: Annotated[int, typer.Option(min=1, max=100, help="Entities per page of a list.")] = 50,
    token_lifetime: Annotated[int, typer.Option(min=10, help="Seconds an OAuth access token lives.")] = 3600,
) -> None:
    """Run a simulated Fusion Operations API (a test double: no Fusion is involved) until stopped: the v2 API's
    bearer and OAuth auth, filters, pages, 429s, creates; failures can be injected with POST /_simulator/faults."""
    import uvicorn

    from qbwc_service.simulate._fusion_store import SeedError
    from qbwc_service.simulate.fusion import API_PREFIX, FAULTS_PATH, TOKEN_PATH, SimulatedFusion

    try:
        sim = SimulatedFusion(seed, requests_per_minute=requests_per_minute, page_size=page_size,
                              token_lifetime=token_lifetime)
    except SeedError as exc:
        fail(str(exc))
    origin = f"http://{host}:{port}"
    out.print(f"simulated Fusion Operations API (a test double) at {origin}{API_PREFIX}\n"
              f"OAuth token endpoint: {origin}{TOKEN_PATH}; faults: POST {origin}{FAULTS_PATH}", markup=False,
              highlight=False)
    for account in sim.accounts.values():
        out.print(f"account {account.id} {account.name!r}: tokens {sorted(account.tokens)}, OAuth clients "
                  f"{sorted(account.clients)}, refresh tokens {sorted(account.refresh_tokens)}", markup=False,
                  highlight=False)
    configure_logging("WARNING")
    with _stop_signals_end_cleanly():
        uvicorn.run(sim.app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=1)


@simulate_app.command("demo")
def simulate_demo(
    url: Annotated[str, typer.Option(help="The running service's SOAP URL, e.g. http://localhost:8080/qbwc.")],
    connection: Annotated[str, typer.Option(help="The connection to pair with the simulated parts (made when "
                                            "missing; given a new token when it exists).")] = "demo",
    fusion_port: Annotated[int, typer.Option(min=1, max=65535, help="Port of the simulated Fusion API.")] = 9000,
    rounds: Annotated[int, typer.Option(min=1, max=20, help="Rounds: a new order, then its shipment, ...")] = 2,
) -> None:
    """Run the three simulated parts together against a running `serve` (test doubles: no Fusion, QuickBooks or
    Web Connector is involved): the Fusion API, a connection paired with it (automatic flows on), and a Web
    Connector with its QuickBooks company; each round something happens in Fusion, Fusion is polled and a session
    runs. Uses the service's database and secret key (the same settings as `serve`)."""
    from qbwc_service.db.engine import make_sessionmaker
    from qbwc_service.simulate.demo import pair_with_fusion, run_demo, served_fusion
    from qbwc_service.simulate.fusion import SimulatedFusion

    settings = current_settings()
    engine = engine_for(settings)
    sim = SimulatedFusion()
    try:
        with served_fusion(sim, "127.0.0.1", fusion_port) as base_url:
            sessions = make_sessionmaker(engine)
            paired = pair_with_fusion(sessions, settings, connection, base_url, sorted(sim.account.tokens)[0])
            out.print(f"simulated Fusion Operations API (a test double) at {base_url}; connection {connection!r} "
                      "paired with it, its send flows automatic", markup=False, highlight=False)
            ok = run_demo(sessions, settings, url, paired, sim, lambda line: out.print(line, markup=False,
                                                                                      highlight=False),
                          rounds=rounds)
    finally:
        engine.dispose()
    if not ok:
        raise typer.Exit(1)
