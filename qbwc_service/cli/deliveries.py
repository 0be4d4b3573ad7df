"""`qbwc-service deliveries`: the records pulled from QuickBooks on their way to Fusion (list, show, retry). Each
command calls a use case of delivery_usecases.py."""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from qbwc_service.cli._common import JsonOption, err, fail, open_db, out, print_json, write
from qbwc_service.db.enums import MAX_INTEGER, DeliveryStatus

if TYPE_CHECKING:
    from qbwc_service.delivery_usecases import DeliveryView

app = typer.Typer(help="Records pulled from QuickBooks, on their way to Fusion.", no_args_is_help=True)

MAX_PAGE = 500  # delivery_usecases.MAX_PAGE, checked by a test: the use cases are imported only when a command runs
MESSAGE_ON_TERMINAL = 80


@app.command("list")
def deliveries_list(
    connection: Annotated[str | None, typer.Option(help="Only this connection.")] = None,
    status: Annotated[str | None, typer.Option(help=f"One of {', '.join(DeliveryStatus)}.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=MAX_PAGE)] = 50,
    as_json: JsonOption = False,
) -> None:
    """Newest records first."""
    from qbwc_service import delivery_usecases

    statuses = (_status(status),) if status is not None else ()
    with open_db(read_only=True) as db:
        page = delivery_usecases.list_deliveries(db, connection, statuses, limit=limit)
    rows = [_brief(view) for view in page.deliveries]
    if as_json:
        print_json(rows)
        return
    table = Table("id", "connection", "entity", "QuickBooks id", "status", "attempts", "Fusion id", "message")
    for row in rows:
        message = row["last_error"] or row["outcome"] or ""
        if out.is_terminal and len(message) > MESSAGE_ON_TERMINAL:
            message = message[:MESSAGE_ON_TERMINAL - 1] + "…"
        table.add_row(str(row["id"]), row["connection"], row["entity"], row["qbd_id"], row["status"],
                      str(row["attempts"]), row["fusion_id"] or "", message)
    out.print(table)


@app.command("show")
def deliveries_show(
    delivery_id: Annotated[int, typer.Argument(min=1, max=MAX_INTEGER, help="The record's id, as `deliveries list` "
                                               "shows it.")],
    as_json: JsonOption = False,
) -> None:
    """One record: its QuickBooks XML, the Fusion payload sent, the Fusion id, attempts and the last error."""
    from qbwc_service import delivery_usecases

    with open_db(read_only=True) as db:
        view = delivery_usecases.show_delivery(db, delivery_id)
    whole = _brief(view) | {"fusion_payload": view.fusion_payload, "ret_xml": view.ret_xml}
    if as_json:
        print_json(whole)
        return
    for key, value in _brief(view).items():
        out.print(f"{key}: {'' if value is None else value}", markup=False, highlight=False)
    out.print("Fusion payload:", markup=False, highlight=False)
    write((json.dumps(view.fusion_payload, indent=2) if view.fusion_payload is not None else "(none sent)") + "\n")
    out.print("QuickBooks XML:", markup=False, highlight=False)
    write((view.ret_xml or "") + "\n")


@app.command("retry")
def deliveries_retry(
    delivery_id: Annotated[int | None, typer.Argument(min=1, max=MAX_INTEGER, help="The record's id; or choose "
                                                      "records with --status (and --connection).")] = None,
    status: Annotated[str | None, typer.Option(help="Retry every record of this status (failed or skipped).")]
    = None,
    connection: Annotated[str | None, typer.Option(help="With --status: only this connection's records.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Send a failed or skipped record back to the delivery worker, or every record --status names."""
    from qbwc_service import delivery_usecases

    if delivery_id is not None:
        if status or connection:
            fail("give a delivery id, or --status (with --connection), not both")
        with open_db() as db:
            view = delivery_usecases.retry_delivery(db, delivery_id)
        if as_json:
            print_json(_brief(view))
        else:
            out.print(f"delivery {view.id} is {view.status}", markup=False, highlight=False)
        return
    if status is None:
        fail("give a delivery id, or --status to retry every record of that status")
    with open_db() as db:
        retried = delivery_usecases.retry_deliveries(db, connection, _status(status))
    if as_json:
        print_json({"retried": [v.id for v in retried.changed],
                    "refused": [{"id": i, "error": str(e)} for i, e in retried.refused]})
    else:
        out.print(f"{len(retried.changed)} deliveries retried", markup=False, highlight=False)
        for delivery, error in retried.refused:
            err.print(f"delivery {delivery} not retried: {error}", markup=False, highlight=False)
    if retried.refused:
        fail(f"{len(retried.refused)} deliveries were not retried (see above)")


def _status(status: str) -> DeliveryStatus:
    if status not in set(DeliveryStatus):
        fail(f"unknown status {status!r}; use one of {', '.join(DeliveryStatus)}")
    return DeliveryStatus(status)


def _brief(view: DeliveryView) -> dict[str, Any]:
    fields = dataclasses.asdict(view)
    fields.pop("fusion_payload")
    fields.pop("ret_xml")
    return {k: str(v) if k == "status" else v for k, v in fields.items()}
