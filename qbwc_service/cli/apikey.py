"""apikey create / list / revoke: the keys to the HTTP API."""

from __future__ import annotations

from typing import Annotated

import typer

from qbwc_service.cli._common import JsonOption, open_db, out, print_json

app = typer.Typer(help="Keys to the HTTP API (Authorization: Bearer KEY).", no_args_is_help=True)


@app.command("create")
def apikey_create(
    name: str,
    read_only: Annotated[bool, typer.Option("--read-only", help="Reads only (jobs, connections, metrics); without "
                                            "it, the key may do everything an operator does.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Make a key; it is printed once, and only its hash is kept."""
    from qbwc_service import connection_usecases

    with open_db(create=True) as db:
        made = connection_usecases.create_api_key(db, name, read_only=read_only)
    if as_json:
        print_json({"name": made.name, "scope": made.scope, "key": made.key})
        return
    out.print(f"name:  {made.name}\nscope: {made.scope}\nkey:   {made.key}", markup=False, highlight=False)
    out.print("The key is shown once. Send it as `Authorization: Bearer KEY`.", style="bold", markup=False)


@app.command("list")
def apikey_list(as_json: JsonOption = False) -> None:
    """The keys: name, scope, when made and when last used (never the key)."""
    from rich.table import Table

    from qbwc_service import connection_usecases

    with open_db(read_only=True) as db:
        rows = [{"name": key.name, "scope": key.scope, "created_at": key.created_at,
                 "last_used_at": key.last_used_at} for key in connection_usecases.list_api_keys(db)]
    if as_json:
        print_json(rows)
        return
    table = Table("name", "scope", "created", "last used")
    for row in rows:
        table.add_row(str(row["name"]), str(row["scope"]), str(row["created_at"]), str(row["last_used_at"] or "never"))
    out.print(table, markup=False, highlight=False)


@app.command("revoke")
def apikey_revoke(name: str) -> None:
    """The key stops working at once."""
    from qbwc_service import connection_usecases

    with open_db() as db:
        connection_usecases.revoke_api_key(db, name)
    out.print(f"API key {name} revoked", markup=False, highlight=False)
