"""enqueue (raw, probe, pull, each send flow), stock, jobs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from qbwc_service.cli import _inputs
from qbwc_service.cli._common import (
    JsonOption,
    current_settings,
    err,
    fail,
    job_queue,
    open_db,
    out,
    print_json,
    read_json,
)
from qbwc_service.db.enums import MAX_INTEGER, JobStatus

if TYPE_CHECKING:
    from qbwc_service import usecases
    from qbwc_service.db.models import Job
    from qbwc_service.queue import Enqueued

enqueue_app = typer.Typer(help="Put work on a connection's queue.", no_args_is_help=True)
jobs_app = typer.Typer(help="Inspect and steer the job queue.", no_args_is_help=True)
stock_app = typer.Typer(help="Stock (quantity on hand) sync, manual only.", no_args_is_help=True)

JobId = Annotated[int, typer.Argument(min=1, max=MAX_INTEGER, help="The job's id, as `jobs list` shows it.")]
MESSAGE_ON_TERMINAL = 80
"""A job's message in `jobs list` on a terminal is cut to this many characters (`jobs show` has it whole)."""


JsonLinesOption = Annotated[str | None, typer.Option(
    "--jsonl", metavar="FILE|-", help="Queue one job per line of this file of JSON lines ('-': standard input), "
    "in the same transaction as the files given.")]


@enqueue_app.command("raw")
def enqueue_raw(
    connection: str,
    files: Annotated[list[Path] | None, typer.Argument(
        help="Files holding one qbXML request element each, e.g. <CustomerAddRq>.", show_default=False)] = None,
    jsonl: JsonLinesOption = None,
    key: Annotated[str | None, typer.Option(help="Idempotency key: the same key never makes a second job (one "
                                            "file only; a JSON line gives its own \"key\").")] = None,
    priority: Annotated[int, typer.Option(min=-MAX_INTEGER, max=MAX_INTEGER, help="Higher runs first.")] = 0,
    as_json: JsonOption = False,
) -> None:
    """Queue operator-supplied qbXML requests: one per file, or one per JSON line ({"request": "<CustomerAddRq>...",
    "key": ..., "priority": ...}, or the request as a JSON string). Many go in one transaction: one refused, and
    nothing is queued (the error names its file or line)."""
    from qbwc_service import usecases

    if not files and jsonl is None:
        fail("give a file holding a qbXML request, or --jsonl FILE (or - for standard input)")
    inputs = _inputs.file_texts(files or [])
    if len(inputs) == 1 and jsonl is None:
        with open_db() as db:
            _report(usecases.enqueue_raw(db, job_queue(), connection, inputs[0].value, key=key, priority=priority),
                    "same key", as_json)
        return
    if key is not None:
        fail("--key names one job: give it with one file (a JSON line gives its own \"key\")")
    items = [usecases.RawItem(connection, one.value, priority=priority) for one in inputs]
    lines = _inputs.json_lines(jsonl) if jsonl is not None else []
    for line in lines:
        request, line_key, line_priority = _inputs.raw_line(line, priority)
        items.append(usecases.RawItem(connection, request, key=line_key, priority=line_priority))
    _enqueue_many(items, [one.origin for one in [*inputs, *lines]], as_json)


def _enqueue_many(items: list[Any], origins: list[str], as_json: bool) -> None:
    """Queue ``items`` (usecases.BulkItem) in one transaction; a refused one ends the command naming its origin,
    with nothing queued."""
    from qbwc_service import usecases
    from qbwc_service.errors import BulkJobRefused

    try:
        with open_db() as db:
            done = usecases.enqueue_bulk(db, job_queue(), items)
    except BulkJobRefused as exc:
        fail(f"{origins[exc.index]}: {exc.error}; nothing was queued")
    made = [(origins[entry.index], job) for entry in done for job in entry.jobs]
    if as_json:
        print_json([{"id": job.id, "kind": job.kind, "status": job.status, "created": job.created, "from": origin}
                    for origin, job in made])
        return
    created = sum(job.created for _origin, job in made)
    out.print(f"{created} jobs queued, {len(made) - created} already queued (same key or entity), from "
              f"{len(origins)} inputs", markup=False, highlight=False)


@enqueue_app.command("probe")
def enqueue_probe(connection: str, as_json: JsonOption = False) -> None:
    """Queue the read-only "test access" probe (HostQuery + CompanyQuery)."""
    from qbwc_service import usecases

    with open_db() as db:
        _report(usecases.enqueue_probe(db, job_queue(), connection), "same key", as_json)


@enqueue_app.command("pull")
def enqueue_pull(
    connection: str,
    entity: Annotated[str, typer.Argument(help="What to read, e.g. SalesOrder, Invoice, Customer.")],
    since: Annotated[str | None, typer.Option(help="Read what changed since this date-time (YYYY-MM-DDTHH:MM:SS) "
                                              "instead of since the last completed pull.")] = None,
    max_returned: Annotated[int, typer.Option(min=1, max=10000, help="Records per page.")] = 100,
    as_json: JsonOption = False,
) -> None:
    """Queue a read of QuickBooks records, paged with an iterator, into the delivery outbox."""
    from qbwc_service import usecases

    with open_db() as db:
        _report(usecases.enqueue_pull(db, job_queue(), connection, entity, since=since, max_returned=max_returned),
                "same key", as_json)


FLOW_COMMANDS = {
    "sales-order": "sales_order",
    "purchase-order": "purchase_order",
    "receiving": "receiving",
    "shipment": "shipment",
    "production-order": "time_tracking",
}


def _enqueue_entity(flow: str) -> Callable[..., None]:
    def command(
        connection: str,
        entities: Annotated[list[Path] | None, typer.Argument(
            help="Fusion entities as JSON, one per file (see examples/); or --fusion-id.", show_default=False)] = None,
        jsonl: JsonLinesOption = None,
        fusion_id: Annotated[str | None, typer.Option("--fusion-id", help="Read the entity from the connection's "
                                                      "Fusion account by its id, and send what Fusion holds.")] = None,
        as_json: JsonOption = False,
    ) -> None:
        from qbwc_service import usecases

        if fusion_id is not None:
            if entities or jsonl is not None:
                fail("give the entity as JSON files (or --jsonl), or --fusion-id ID to read it from Fusion, not both")
            from qbwc_service import automation
            from qbwc_service.cli.automation import session_factory

            with session_factory() as sessions:
                _report_all(automation.enqueue_from_fusion(sessions, job_queue(), current_settings(), connection,
                                                           flow, fusion_id), as_json)
            return
        if not entities and jsonl is None:
            fail("give a file holding the Fusion entity as JSON, --jsonl FILE (or - for standard input), or "
                 "--fusion-id ID")
        inputs = [*_inputs.file_json(entities or []), *(_inputs.json_lines(jsonl) if jsonl is not None else [])]
        if len(inputs) == 1 and jsonl is None:
            with open_db() as db:
                _report_all(usecases.enqueue_flow(db, job_queue(), connection, flow, inputs[0].value), as_json)
            return
        _enqueue_many([usecases.FlowItem(connection, flow, one.value) for one in inputs],
                      [one.origin for one in inputs], as_json)

    return command


for _name, _flow in FLOW_COMMANDS.items():
    enqueue_app.command(_name, help=f"Queue a Fusion {_name.replace('-', ' ')} for QuickBooks "
                        f"({'time entries' if _flow == 'time_tracking' else 'one document'}).")(_enqueue_entity(_flow))


def _report_all(made: list[Enqueued], as_json: bool) -> None:
    """The jobs one entity made (a production order: one per time record)."""
    if as_json:
        print_json([_enqueued(one) for one in made])
        return
    for one in made:
        _report(one, "same entity")


def _report(made: Enqueued, same: str, as_json: bool = False) -> None:
    if as_json:
        print_json(_enqueued(made))
        return
    if made.changed:
        verb = "queued to change the document in QuickBooks" if made.created else "now carries the newer version"
    else:
        verb = "queued" if made.created else f"already queued ({same})"
    out.print(f"job {made.job.id} {verb}: {made.job.kind} status={made.job.status}")


def _enqueued(made: Enqueued) -> dict[str, Any]:
    return {"id": made.job.id, "kind": made.job.kind, "status": made.job.status, "created": made.created,
            "changed": made.changed}


def _job_dict(job: Job, connection: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": job.id, "connection": connection, "connection_id": job.connection_id, "kind": job.kind,
        "status": job.status,
        "priority": job.priority, "attempts": job.attempts, "not_before": job.not_before,
        "status_code": job.status_code, "status_message": job.status_message, "result": job.result,
        "created_at": job.created_at, "updated_at": job.updated_at, "key": job.idempotency_key,
    }
    return data


@jobs_app.command("list")
def jobs_list(
    connection: Annotated[str | None, typer.Option(help="Only this connection.")] = None,
    status: Annotated[str | None, typer.Option(help=f"One of {', '.join(JobStatus)}.")] = None,
    kind: Annotated[str | None, typer.Option(help="Only jobs of this kind, e.g. raw, pull, sales_order (another "
                                              "name is refused with the list of kinds).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10000)] = 50,
    as_json: JsonOption = False,
) -> None:
    """Newest jobs first."""
    from rich.table import Table

    from qbwc_service import connections, queue

    chosen = _status(status) if status is not None else None
    _kind(kind)
    with open_db(read_only=True) as db:
        names = connections.names_by_id(db)
        conn_id = connections.get_connection(db, connection).id if connection else None
        rows = [_job_dict(j, connection=names.get(j.connection_id))
                for j in queue.list_jobs(db, connection_id=conn_id, status=chosen,
                                         kind=kind, limit=limit)]
    if as_json:
        print_json(rows)
        return
    table = Table("id", "connection", "kind", "status", "attempts", "code", "message", "result")
    for r in rows:
        message = r["status_message"] or ""
        if out.is_terminal and len(message) > MESSAGE_ON_TERMINAL:
            message = message[:MESSAGE_ON_TERMINAL - 1] + "…"
        table.add_row(str(r["id"]), r["connection"], r["kind"], r["status"], str(r["attempts"]),
                      r["status_code"] or "", message, json.dumps(r["result"]) if r["result"] else "")
    out.print(table, markup=False, highlight=False)


@jobs_app.command("show")
def jobs_show(
    job_id: JobId,
    as_json: JsonOption = False,
    full: Annotated[bool, typer.Option("--full", help="Print the payload, warnings and XML whole, however large "
                                       "(streamed); without it, the first 64 KB of each.")] = False,
) -> None:
    """One job with its request and response XML (the first 64 KB of each, saying how much was left out)."""
    from qbwc_service import connections, job_columns
    from qbwc_service.cli import job_view

    with open_db(read_only=True) as db:
        job = job_columns.get_job_summary(db, job_id)
        names = connections.names_by_id(db)
        fields = {**_job_dict(job, connection=names.get(job.connection_id)),
                  "ticket": job.ticket, "depends_on": job.depends_on, "cursor": job.cursor}
        job_view.show(db, job.id, fields, as_json=as_json, full=full)


@jobs_app.command("retry")
def jobs_retry(
    job_id: Annotated[int | None, typer.Argument(min=1, max=MAX_INTEGER, help="The job's id; or choose jobs with "
                                                 "--status (and --connection, --kind).")] = None,
    status: Annotated[str | None, typer.Option(help="Retry every job of this status (failed, dead, unknown, "
                                               "cancelled).")] = None,
    connection: Annotated[str | None, typer.Option(help="With --status: only this connection's jobs.")] = None,
    kind: Annotated[str | None, typer.Option(help="With --status: only jobs of this kind.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Put a failed, dead, unknown or cancelled job back on the queue, or every job --status names. An unknown
    write that QuickBooks cannot be asked about is not retried: resolve it (`jobs resolve`)."""
    from qbwc_service import usecases

    if job_id is not None:
        if status or connection or kind:
            fail("give a job id, or --status (with --connection, --kind), not both")
        with open_db() as db:
            _job_is(usecases.retry_job(db, job_queue(), job_id), as_json)
        return
    if status is None:
        fail("give a job id, or --status to retry every job of that status")
    selection = usecases.JobSelection(connection, (_status(status),), _kind(kind))
    with open_db() as db:
        steered = usecases.retry_jobs(db, job_queue(), selection)
    _steered(steered, "retried", as_json)


@jobs_app.command("resolve")
def jobs_resolve(
    job_id: Annotated[int | None, typer.Argument(min=1, max=MAX_INTEGER, help="The unknown job's id; or choose them "
                                                 "with --connection (and --kind).")] = None,
    landed: Annotated[bool | None, typer.Option("--landed/--not-landed", help="Whether the job's write is in "
                                                "QuickBooks: landed, it is done; not landed, it is queued to be "
                                                "sent again.", show_default=False)] = None,
    txn_id: Annotated[str | None, typer.Option("--txn-id", help="With --landed and a job id: the TxnID of the "
                                               "document found in QuickBooks, kept on the job (and linked to "
                                               "the Fusion entity it sent).")] = None,
    connection: Annotated[str | None, typer.Option(help="Resolve every unknown job of this connection alike.")]
    = None,
    kind: Annotated[str | None, typer.Option(help="With --connection: only jobs of this kind.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Say whether an unknown job (sent, its answer lost) landed in QuickBooks, after checking there."""
    from qbwc_service import usecases

    if landed is None:
        fail("say --landed (it is in QuickBooks) or --not-landed (it is not: send it again)")
    if job_id is not None:
        if connection or kind:
            fail("give a job id, or --connection (with --kind), not both")
        with open_db() as db:
            _job_is(usecases.resolve_job(db, job_queue(), job_id, landed=landed, txn_id=txn_id), as_json)
        return
    if connection is None:
        fail("give a job id, or --connection to resolve every unknown job of a connection")
    if txn_id is not None:
        fail("--txn-id names one document: give it with one job id")
    with open_db() as db:
        steered = usecases.resolve_jobs(db, job_queue(), usecases.JobSelection(connection, kind=_kind(kind)),
                                        landed=landed)
    _steered(steered, "resolved", as_json)


def _status(status: str) -> JobStatus:
    if status not in set(JobStatus):
        fail(f"unknown status {status!r}; use one of {', '.join(JobStatus)}")
    return JobStatus(status)


def _kind(kind: str | None) -> str | None:
    from qbwc_service.kinds import REGISTRY

    if kind is not None and kind not in REGISTRY.names():
        fail(f"unknown kind {kind!r}; use one of {', '.join(REGISTRY.names())}")
    return kind


def _steered(steered: usecases.Steered, verb: str, as_json: bool) -> None:
    """What a command by filter did; a run that refused some jobs ends with exit code 1, naming them."""
    if as_json:
        print_json({verb: [{"id": job.id, "kind": job.kind, "status": job.status} for job in steered.changed],
                    "refused": [{"id": job_id, "error": str(error)} for job_id, error in steered.refused]})
    else:
        out.print(f"{len(steered.changed)} jobs {verb}" + (f": {', '.join(str(j.id) for j in steered.changed)}"
                                                         if steered.changed else ""), markup=False, highlight=False)
        for job_id, error in steered.refused:
            err.print(f"job {job_id} not {verb}: {error}", markup=False, highlight=False)
    if steered.refused:
        fail(f"{len(steered.refused)} jobs were not {verb} (see above)")


@jobs_app.command("cancel")
def jobs_cancel(job_id: JobId, as_json: JsonOption = False) -> None:
    """Cancel a job that has not been done."""
    from qbwc_service import usecases

    with open_db() as db:
        _job_is(usecases.cancel_job(db, job_queue(), job_id), as_json)


def _job_is(job: Job, as_json: bool) -> None:
    if as_json:
        print_json({"id": job.id, "kind": job.kind, "status": job.status})
    else:
        out.print(f"job {job.id} is {job.status}")



def _stock_levels(file: Path | None, connection: str, product: str | None = None) -> list[Any]:
    if file is None:
        from qbwc_service import automation
        from qbwc_service.cli.automation import session_factory

        with session_factory() as sessions:
            return automation.stock_from_fusion(sessions, current_settings(), connection, product)
    data = read_json(file)
    levels = data.get("products", data) if isinstance(data, dict) else data
    if not isinstance(levels, list):
        fail(f"{file} must hold a list of stock levels (or {{\"products\": [...]}})")
    return levels


@stock_app.command("send-all")
def stock_send_all(
    connection: str,
    file: Annotated[Path | None, typer.Option("--file", help="Stock levels as JSON: a list of {product, "
                                              "quantityInStock, quantityOnOrders | salesOrders}. Without it, read "
                                              "from the connection's Fusion account.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Send the stock of every product (labelled products only when that option is on)."""
    from rich.progress import track

    from qbwc_service import usecases

    levels = _stock_levels(file, connection)
    with open_db() as db:
        sent = usecases.send_stock(db, job_queue(), connection, track(
            levels, description="queueing stock", console=err, disable=not err.is_terminal))
        if as_json:
            print_json({"queued": [_enqueued(made) for made in sent.queued],
                        "already_queued": [_enqueued(made) for made in sent.already_queued],
                        "not_labelled": sent.not_labelled})
            return
    out.print(f"{len(sent.queued)} stock updates queued, {len(sent.not_labelled)} products skipped "
              "(no QuickBooks label)")


@stock_app.command("send")
def stock_send(
    connection: str,
    product: Annotated[str, typer.Argument(help="The Fusion product code.")],
    file: Annotated[Path | None, typer.Option("--file", help="Stock levels as JSON (the product is picked by "
                                              "code). Without it, read from the connection's Fusion account.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Update one product's quantity on hand in QuickBooks."""
    from qbwc_service import usecases

    levels = _stock_levels(file, connection, product)
    with open_db() as db:
        made = usecases.send_stock_of(db, job_queue(), connection, product, levels)
        if as_json:
            print_json(_enqueued(made))
            return
        out.print(f"job {made.job.id} {'queued' if made.created else 'already queued'}: stock {product}")
