"""The command line: serve, db upgrade, connections, enqueue, jobs, simulate."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from qbwc_service import connections, jobkinds, queue
from qbwc_service.db.engine import make_engine, make_sessionmaker
from qbwc_service.db.migrate import current_revision, upgrade
from qbwc_service.db.models import Job
from qbwc_service.errors import QbwcError
from qbwc_service.logs import configure_logging
from qbwc_service.settings import Settings, load_settings

app = typer.Typer(help="qbwc-service: Fusion Operations <-> QuickBooks Desktop over the Web Connector.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
conn_app = typer.Typer(help="Connections (one QuickBooks company file each) and their tokens.", no_args_is_help=True)
enqueue_app = typer.Typer(help="Put work on a connection's queue.", no_args_is_help=True)
jobs_app = typer.Typer(help="Inspect and steer the job queue.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(conn_app, name="connection")
app.add_typer(enqueue_app, name="enqueue")
app.add_typer(jobs_app, name="jobs")
stock_app = typer.Typer(help="Stock (quantity on hand) sync, manual only.", no_args_is_help=True)
app.add_typer(stock_app, name="stock")

out = Console()
err = Console(stderr=True, soft_wrap=True)


def main() -> None:
    try:
        app()
    except QbwcError as exc:
        err.print(f"error: {exc}", markup=False, highlight=False)
        sys.exit(1)


def _fail(message: str) -> NoReturn:
    raise QbwcError(message)


def _settings() -> Settings:
    return load_settings()


def _engine(settings: Settings) -> Engine:
    """The database, brought up to date when it is SQLite (the zero set-up default)."""
    engine = make_engine(settings.database_url)
    if engine.dialect.name == "sqlite":
        upgrade(engine)
    return engine


@contextmanager
def _db() -> Iterator[Session]:
    settings = _settings()
    engine = _engine(settings)
    try:
        with make_sessionmaker(engine).begin() as db:
            yield db
    finally:
        engine.dispose()


def _print_json(data: Any) -> None:
    out.print_json(json.dumps(data, default=str))


# ---------------------------------------------------------------- serve and db


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Overrides QBWC_HOST.")] = None,
    port: Annotated[int | None, typer.Option(help="Overrides QBWC_PORT.")] = None,
) -> None:
    """Run the service: SOAP for the Web Connector at /qbwc, health at /healthz."""
    import uvicorn

    from qbwc_service.app import create_app

    settings = _settings()
    configure_logging(settings.log_level)
    engine = _engine(settings)
    if engine.dialect.name != "sqlite":
        from qbwc_service.db.migrate import head_revision

        if current_revision(engine) != head_revision():
            _fail("the database schema is not up to date; run `qbwc-service db upgrade` first")
    uvicorn.run(create_app(settings, engine), host=host or settings.host, port=port or settings.port,
                log_level=settings.log_level.lower(), proxy_headers=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema to the newest revision."""
    settings = _settings()
    engine = make_engine(settings.database_url)
    upgrade(engine)
    out.print(f"database at revision {current_revision(engine)}")
    engine.dispose()


# ---------------------------------------------------------------- connections


def _token_output(name: str, username: str, token: str, as_json: bool) -> None:
    if as_json:
        _print_json({"name": name, "username": username, "token": token})
        return
    out.print(f"connection: {name}\nusername:   {username}\ntoken:      {token}", markup=False, highlight=False)
    out.print("The token is shown once. Type it as the password in the Web Connector.", style="bold")


@conn_app.command("create")
def connection_create(
    name: str, as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False
) -> None:
    """Create a connection; prints its Web Connector username and token once."""
    with _db() as db:
        made = connections.create_connection(db, name)
        _token_output(made.connection.name, made.connection.username, made.token, as_json)


@conn_app.command("token")
def connection_token(
    name: str, as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False
) -> None:
    """Rotate the token: the old one stops working at once (use it to move to another computer)."""
    with _db() as db:
        made = connections.rotate_token(db, name)
        _token_output(made.connection.name, made.connection.username, made.token, as_json)


@conn_app.command("revoke")
def connection_revoke(name: str) -> None:
    """Revoke the token: the Web Connector is refused until a new token is made."""
    with _db() as db:
        connections.revoke(db, name)
    out.print(f"token of {name} revoked")


@conn_app.command("qwc")
def connection_qwc(
    name: str,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write; default NAME.qwc.")] = None,
) -> None:
    """Write the .qwc file to open in the Web Connector."""
    settings = _settings()
    with _db() as db:
        text = connections.render_qwc(connections.get_connection(db, name), settings)
    path = output or Path(f"{name}.qwc")
    path.write_text(text, encoding="utf-8")
    out.print(f"wrote {path}")
    if not settings.qbwc_url.startswith("https://") and "localhost" not in settings.qbwc_url:
        err.print("warning: the Web Connector refuses plain http except for localhost; set QBWC_PUBLIC_URL "
                  "to an https URL")


@conn_app.command("list")
def connection_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Connections and what the service knows of their Web Connector and QuickBooks."""
    with _db() as db:
        rows = [_connection_row(c, queue.count_by_status(db, c.id)) for c in connections.list_connections(db)]
    if as_json:
        _print_json(rows)
        return
    table = Table("name", "username", "token", "last contact", "last auth", "company file", "QuickBooks", "jobs")
    for row in rows:
        table.add_row(row["name"], row["username"], row["token"], str(row["last_contact_at"] or "never"),
                      row["last_auth_outcome"] or "never seen", row["company_file"] or "",
                      row["qb_product"] or "", " ".join(f"{k}={v}" for k, v in sorted(row["jobs"].items())))
    out.print(table)


def _connection_row(c: Any, jobs: dict[str, int]) -> dict[str, Any]:
    return {
        "name": c.name, "username": c.username, "token": "revoked" if c.revoked_at else "active",
        "last_contact_at": c.last_contact_at, "last_auth_outcome": c.last_auth_outcome,
        "client_version": c.client_version, "company_file": c.company_file, "company_name": c.company_name,
        "qb_product": c.qb_product, "qb_country": c.qb_country, "qbxml_version": c.qbxml_version,
        "last_connection_error": c.last_connection_error, "jobs": jobs,
    }


# ---------------------------------------------------------------- enqueue


@enqueue_app.command("raw")
def enqueue_raw(
    connection: str,
    file: Annotated[Path, typer.Argument(help="A file holding one qbXML request element, e.g. <CustomerAddRq>.")],
    key: Annotated[str | None, typer.Option(help="Idempotency key: the same key never makes a second job.")] = None,
    priority: Annotated[int, typer.Option(help="Higher runs first.")] = 0,
) -> None:
    """Queue an operator-supplied qbXML request."""
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        _fail(f"cannot read {file}: {exc}")
    prepared = jobkinds.prepare_raw(text)
    _enqueue(connection, prepared, key, priority)


@enqueue_app.command("probe")
def enqueue_probe(connection: str) -> None:
    """Queue the read-only "test access" probe (HostQuery + CompanyQuery)."""
    _enqueue(connection, jobkinds.prepare_probe(), None, 10)


@enqueue_app.command("pull")
def enqueue_pull(
    connection: str,
    entity: Annotated[str, typer.Argument(help="What to read, e.g. SalesOrder, Invoice, Customer.")],
    since: Annotated[str | None, typer.Option(help="Read what changed since this date-time (YYYY-MM-DDTHH:MM:SS) "
                                              "instead of since the last completed pull.")] = None,
    max_returned: Annotated[int, typer.Option(min=1, max=10000, help="Records per page.")] = 100,
) -> None:
    """Queue a read of QuickBooks records, paged with an iterator, into the delivery outbox."""
    if since is not None:
        _check_since(since)
    _enqueue(connection, jobkinds.prepare_pull_job(entity, max_returned=max_returned, since=since), None, 0)


def _check_since(since: str) -> None:
    from datetime import datetime

    try:
        datetime.fromisoformat(since)
    except ValueError:
        _fail(f"--since {since!r} is not a date-time such as 2026-11-01T00:00:00")


FLOW_COMMANDS = {
    "sales-order": "sales_order",
    "purchase-order": "purchase_order",
    "receiving": "receiving",
    "shipment": "shipment",
    "production-order": "time_tracking",
}


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        _fail(f"cannot read {path}: {exc}")
    except json.JSONDecodeError as exc:
        _fail(f"{path} is not JSON: {exc}")


def _enqueue_entity(flow: str) -> Callable[..., None]:
    def command(
        connection: str,
        entity: Annotated[Path, typer.Argument(help="The Fusion entity as JSON (see examples/).")],
    ) -> None:
        from qbwc_service import sync

        data = _read_json(entity)
        with _db() as db:
            conn = connections.get_connection(db, connection)
            made = sync.enqueue_flow(db, conn, flow, data)
            for item in made:
                verb = "queued" if item.created else "already queued (same entity)"
                out.print(f"job {item.job.id} {verb}: {item.job.kind} status={item.job.status}")

    return command


for _name, _flow in FLOW_COMMANDS.items():
    enqueue_app.command(_name, help=f"Queue a Fusion {_name.replace('-', ' ')} for QuickBooks "
                        f"({'time entries' if _flow == 'time_tracking' else 'one document'}).")(_enqueue_entity(_flow))


def _enqueue(connection: str, prepared: jobkinds.Prepared, key: str | None, priority: int) -> None:
    with _db() as db:
        conn = connections.get_connection(db, connection)
        made = queue.enqueue(db, conn.id, prepared.kind, prepared.payload, key=key, priority=priority,
                             read_only=prepared.read_only)
        verb = "queued" if made.created else "already queued (same key)"
        out.print(f"job {made.job.id} {verb}: {made.job.kind} status={made.job.status}")


# ---------------------------------------------------------------- jobs


def _job_dict(job: Job, full: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": job.id, "connection_id": job.connection_id, "kind": job.kind, "status": job.status,
        "priority": job.priority, "attempts": job.attempts, "not_before": job.not_before,
        "status_code": job.status_code, "status_message": job.status_message, "result": job.result,
        "created_at": job.created_at, "updated_at": job.updated_at, "key": job.idempotency_key,
    }
    if full:
        data.update(payload=job.payload, request_xml=job.request_xml, response_xml=job.response_xml,
                    ticket=job.ticket, depends_on=job.depends_on, warnings=job.warnings, cursor=job.cursor)
    return data


@jobs_app.command("list")
def jobs_list(
    connection: Annotated[str | None, typer.Option(help="Only this connection.")] = None,
    status: Annotated[str | None, typer.Option(help=f"One of {', '.join(queue.STATUSES)}.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10000)] = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Newest jobs first."""
    if status is not None and status not in queue.STATUSES:
        _fail(f"unknown status {status!r}; use one of {', '.join(queue.STATUSES)}")
    with _db() as db:
        conn_id = connections.get_connection(db, connection).id if connection else None
        rows = [_job_dict(j) for j in queue.list_jobs(db, connection_id=conn_id, status=status, limit=limit)]
    if as_json:
        _print_json(rows)
        return
    table = Table("id", "kind", "status", "attempts", "code", "message", "result")
    for r in rows:
        table.add_row(str(r["id"]), r["kind"], r["status"], str(r["attempts"]), r["status_code"] or "",
                      (r["status_message"] or "")[:60], json.dumps(r["result"]) if r["result"] else "")
    out.print(table)


@jobs_app.command("show")
def jobs_show(job_id: int, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """One job with its request and response XML."""
    with _db() as db:
        data = _job_dict(queue.get_job(db, job_id), full=True)
    if as_json:
        _print_json(data)
        return
    for key in ("id", "kind", "status", "attempts", "priority", "not_before", "status_code", "status_message",
                "result", "warnings", "ticket", "key", "created_at", "updated_at"):
        out.print(f"{key}: {data[key]}", markup=False, highlight=False)
    out.print("--- request XML", markup=False)
    out.print(data["request_xml"] or "(not sent yet)", markup=False, highlight=False)
    out.print("--- response XML", markup=False)
    out.print(data["response_xml"] or "(no response)", markup=False, highlight=False)


@jobs_app.command("retry")
def jobs_retry(job_id: int) -> None:
    """Put a failed, dead, unknown or cancelled job back on the queue."""
    with _db() as db:
        job = queue.retry(db, job_id)
        out.print(f"job {job.id} is {job.status}")


@jobs_app.command("cancel")
def jobs_cancel(job_id: int) -> None:
    """Cancel a job that has not been done."""
    with _db() as db:
        job = queue.cancel(db, job_id)
        out.print(f"job {job.id} is {job.status}")


# ---------------------------------------------------------------- simulate


@app.command()
def simulate(
    url: Annotated[str, typer.Option(help="The service's SOAP URL, e.g. http://localhost:8080/qbwc.")],
    username: Annotated[str, typer.Option(help="The connection's Web Connector username.")],
    password: Annotated[str, typer.Option(help="The connection's token.")],
    company_name: Annotated[str | None, typer.Option(help="Name of the simulated company.")] = None,
    country: Annotated[str | None, typer.Option(help="US, CA or UK.")] = None,
    seed: Annotated[Path | None, typer.Option(help="A JSON company file to start from (default: a small "
                                              "manufacturer shipped with the simulator).")] = None,
    state: Annotated[Path | None, typer.Option(help="Keep the simulated company in this file between runs.")] = None,
) -> None:
    """Run one Web Connector session against a simulated QuickBooks company (a test double: no
    QuickBooks is involved) and print what happened."""
    from qbwc_service.simulate.quickbooks import SEED_COMPANY, CompanyFileError, QuickBooksCompany
    from qbwc_service.simulate.webconnector import WebConnectorClient, WebConnectorError

    settings: dict[str, Any] = {k: v for k, v in (("company_name", company_name), ("country", country)) if v}
    try:
        company = QuickBooksCompany.from_seed(seed or SEED_COMPANY, state_file=state, **settings)
    except CompanyFileError as exc:
        _fail(str(exc))
    client = WebConnectorClient(url, username, password, company)
    try:
        report = client.run_session()
    except WebConnectorError as exc:
        _fail(str(exc))
    for method, summary in report.calls:
        out.print(f"{method:<20} {summary}", markup=False, highlight=False)
    out.print(f"outcome: {report.outcome}; message sets: {report.message_sets}; "
              f"last percent: {report.last_percent}", markup=False)
    if report.last_error:
        out.print(f"last error: {report.last_error}", markup=False)
    if report.outcome not in ("done", "nothing-to-do"):
        raise typer.Exit(1)


# ---------------------------------------------------------------- stock


def _stock_levels(file: Path) -> list[Any]:
    data = _read_json(file)
    levels = data.get("products", data) if isinstance(data, dict) else data
    if not isinstance(levels, list):
        _fail(f"{file} must hold a list of stock levels (or {{\"products\": [...]}})")
    return levels


@stock_app.command("send-all")
def stock_send_all(
    connection: str,
    file: Annotated[Path, typer.Option("--file", help="Stock levels as JSON: a list of {product, quantityInStock, "
                                       "quantityOnOrders | salesOrders}.")],
) -> None:
    """Send the stock of every product (labelled products only when that option is on)."""
    from rich.progress import track

    from qbwc_service import sync
    from qbwc_service.errors import InvalidInput

    levels = _stock_levels(file)
    queued = skipped = 0
    with _db() as db:
        conn = connections.get_connection(db, connection)
        sync.refuse_non_us(conn)
        options = sync.options_of(conn)
        if not options.stock_sync:
            _fail(f"stock sync is off for {connection!r}; set stock_sync=true and stock_adjustment_account")
        for level in track(levels, description="queueing stock", console=err, disable=not err.is_terminal):
            try:
                made = sync.enqueue_flow(db, conn, "stock", level)
            except InvalidInput as exc:
                if "label" not in str(exc):
                    raise
                skipped += 1
                continue
            queued += sum(1 for m in made if m.created)
    out.print(f"{queued} stock updates queued, {skipped} products skipped (no QuickBooks label)")


@stock_app.command("send")
def stock_send(
    connection: str,
    product: Annotated[str, typer.Argument(help="The Fusion product code.")],
    file: Annotated[Path, typer.Option("--file", help="Stock levels as JSON (the product is picked by code).")],
) -> None:
    """Update one product's quantity on hand in QuickBooks."""
    from qbwc_service import sync

    levels = [level for level in _stock_levels(file)
              if isinstance(level, dict) and (level.get("product") or {}).get("code") == product]
    if not levels:
        _fail(f"product {product!r} is not in {file}")
    with _db() as db:
        conn = connections.get_connection(db, connection)
        if not sync.options_of(conn).stock_sync:
            _fail(f"stock sync is off for {connection!r}; set stock_sync=true and stock_adjustment_account")
        (made,) = sync.enqueue_flow(db, conn, "stock", levels[0])
        out.print(f"job {made.job.id} {'queued' if made.created else 'already queued'}: stock {product}")


# ---------------------------------------------------------------- options


@conn_app.command("options")
def connection_options(
    name: str,
    set_: Annotated[list[str] | None, typer.Option("--set", help="key=value (JSON values: true, 3, [..]); "
                                                   "nested keys with dots: sales_orders.automatic=true.")] = None,
    unset: Annotated[list[str] | None, typer.Option("--unset", help="Back to the default.")] = None,
) -> None:
    """Show the connection's integration options as JSON, or change them (validated before saving)."""
    from pydantic import ValidationError

    from mappings.options import IntegrationOptions

    with _db() as db:
        conn = connections.get_connection(db, name)
        stored: dict[str, Any] = json.loads(json.dumps(conn.options or {}))
        for item in set_ or []:
            key, sep, raw = item.partition("=")
            if not sep or not key:
                _fail(f"--set {item!r}: use key=value")
            _assign(stored, key.strip(), _parse_value(raw))
        for key in unset or []:
            _remove(stored, key.strip())
        try:
            options = IntegrationOptions.model_validate(stored)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            _fail(f"invalid option{' ' + where if where else ''}: {first['msg']}")
        conn.options = options.model_dump(mode="json", exclude_defaults=True)
        _print_json(options.model_dump(mode="json"))


def _parse_value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def _assign(target: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    for part in parents:
        nested = target.setdefault(part, {})
        if not isinstance(nested, dict):
            _fail(f"option {part!r} is not a group")
        target = nested
    target[leaf] = value


def _remove(target: dict[str, Any], dotted: str) -> None:
    *parents, leaf = dotted.split(".")
    for part in parents:
        target = target.get(part) or {}
    target.pop(leaf, None)


if __name__ == "__main__":
    main()
