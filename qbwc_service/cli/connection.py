"""connection create / token / revoke / qwc / list / options / rename / delete."""

from __future__ import annotations

import dataclasses
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote

import typer

from qbwc_service.cli._common import (
    JsonOption,
    current_settings,
    engine_for,
    err,
    fail,
    open_db,
    out,
    print_json,
    write,
)
from qbwc_service.errors import ConnectionBusy

if TYPE_CHECKING:
    from qbwc_service.connections import Holdings

app = typer.Typer(help="Connections (one QuickBooks company file each) and their tokens.", no_args_is_help=True)


def _token_output(name: str, username: str, token: str, as_json: bool, unpinned: str | None = None) -> None:
    if as_json:
        print_json({"name": name, "username": username, "token": token}
                   | ({"unpinned_company_file": unpinned} if unpinned else {}))
        return
    out.print(f"connection: {name}\nusername:   {username}\ntoken:      {token}", markup=False, highlight=False)
    out.print("The token is shown once. Type it as the password in the Web Connector.", style="bold")
    if unpinned:
        out.print(f"The company file {unpinned} is no longer pinned: the first session with this token pins the "
                  "company file it opens.", markup=False, highlight=False)


@app.command("create")
def connection_create(
    name: str, as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False
) -> None:
    """Create a connection; prints its Web Connector username and token once."""
    from qbwc_service import connections

    with open_db(create=True) as db:
        made = connections.create_connection(db, name)
        _token_output(made.connection.name, made.connection.username, made.token, as_json)


@app.command("token")
def connection_token(
    name: str, as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False
) -> None:
    """A new token, a new pairing: the old token stops working at once and the company-file pin is lifted
    (use it to move to another computer). Documents already sent stay linked."""
    from qbwc_service import connection_usecases

    with open_db() as db:
        made = connection_usecases.rotate_token(db, name)
        _token_output(made.connection.name, made.connection.username, made.token, as_json, made.unpinned)


@app.command("unpin")
def connection_unpin(name: str) -> None:
    """Forget the pinned company file, keeping the token: the next session pins the file it opens (the same
    company opened from another path or computer). Documents already sent stay linked."""
    from qbwc_service import connection_usecases

    with open_db() as db:
        unpinned = connection_usecases.unpin_company_file(db, name)
    if unpinned.company_file is None:
        out.print(f"{name} was not pinned to a company file", markup=False, highlight=False)
        return
    out.print(f"{name} is no longer pinned to {unpinned.company_file}; the next session pins the company file it "
              "opens", markup=False, highlight=False)


@app.command("unlock")
def connection_unlock(name: str) -> None:
    """Lift the lockout of the connection's username (too many refused authentications) and forget its
    refusals: its Web Connector is let in again at once with the right token."""
    from qbwc_service import connection_usecases

    with open_db() as db:
        connection_usecases.unlock_connection(db, name)
    out.print(f"{name} is no longer locked", markup=False, highlight=False)


@app.command("revoke")
def connection_revoke(name: str) -> None:
    """Revoke the token: the Web Connector is refused until a new token is made."""
    from qbwc_service import connections

    with open_db() as db:
        connections.revoke(db, name)
    out.print(f"token of {name} revoked")


@app.command("qwc")
def connection_qwc(
    name: str,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write; default NAME.qwc.")] = None,
) -> None:
    """Write the .qwc file to open in the Web Connector."""
    from qbwc_service import connections

    settings = current_settings()
    with open_db(read_only=True) as db:
        text = connections.render_qwc(connections.get_connection(db, name), settings)
    path = output or Path(f"{name}.qwc")
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror or exc}; choose another file with --output")
    out.print(f"wrote {path}")
    if not settings.qbwc_url.startswith("https://") and "localhost" not in settings.qbwc_url:
        err.print("warning: the Web Connector refuses plain http except for localhost; set QBWC_PUBLIC_URL "
                  "to an https URL")


@app.command("list")
def connection_list(as_json: JsonOption = False) -> None:
    """Connections and what the service knows of their Web Connector and QuickBooks. Last contact and last auth
    are the last successful ones; refused authentications are shown apart (failed auth), with any lockout."""
    from rich.table import Table

    from qbwc_service import authentication, connections, queue
    from qbwc_service.clock import SYSTEM_CLOCK

    now = SYSTEM_CLOCK.now()
    with open_db(read_only=True) as db:
        rows = [_connection_row(c, queue.count_by_status(db, c.id), now) for c in connections.list_connections(db)]
        locked = authentication.locked_addresses(db, now)
    if as_json:
        print_json(rows)
        return
    table = Table("name", "username", "token", "last contact", "last auth", "failed auth", "locked until",
                  "Web Connector", "company file", "QuickBooks", "jobs")
    for row in rows:
        failed = (f"{row['last_failed_auth_outcome']} at {row['last_failed_auth_at']}"
                  if row["last_failed_auth_at"] else "")
        table.add_row(row["name"], row["username"], row["token"], str(row["last_contact_at"] or "never"),
                      row["last_auth_outcome"] or "never seen", failed, str(row["locked_until"] or ""),
                      row["client_version"] or "", row["company_file"] or "",
                      row["qb_product"] or "", " ".join(f"{k}={v}" for k, v in sorted(row["jobs"].items())))
    out.print(table, markup=False, highlight=False)
    for address, until in locked:
        out.print(f"client address {address} is locked until {until} (too many refused authentications)",
                  markup=False, highlight=False)


def _connection_row(c: Any, jobs: dict[str, int], now: datetime) -> dict[str, Any]:
    return {
        "name": c.name, "username": c.username, "token": "revoked" if c.revoked_at else "active",
        "last_contact_at": c.last_contact_at, "last_auth_at": c.last_auth_at,
        "last_auth_outcome": c.last_auth_outcome, "last_failed_auth_at": c.last_failed_auth_at,
        "last_failed_auth_outcome": c.last_failed_auth_outcome, "failed_auths": c.failed_auths,
        "locked_until": c.locked_until if c.locked_until and c.locked_until > now else None,
        "client_version": c.client_version, "company_file": c.company_file, "company_name": c.company_name,
        "qb_product": c.qb_product, "qb_country": c.qb_country, "client_country": c.client_country,
        "qbxml_version": c.qbxml_version, "last_connection_error": c.last_connection_error, "jobs": jobs,
    }



@app.command("options")
def connection_options(
    name: str,
    set_: Annotated[list[str] | None, typer.Option("--set", help="key=value (JSON values: true, 3, [..]); "
                                                   "nested keys with dots: sales_orders.automatic=true.")] = None,
    unset: Annotated[list[str] | None, typer.Option("--unset", help="Back to the default.")] = None,
) -> None:
    """Show the connection's integration options as JSON, or change them (validated before saving)."""
    from qbwc_service import connection_usecases

    pairs: list[tuple[str, Any]] = []
    for item in set_ or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            fail(f"--set {item!r}: use key=value")
        pairs.append((key.strip(), _parse_value(raw)))
    with open_db() as db:
        options = connection_usecases.update_options(db, name, set_values=pairs,
                                                     unset=[key.strip() for key in unset or []])
        print_json(options.model_dump(mode="json"))


def _parse_value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


@app.command("rename")
def connection_rename(old: str, new: str, as_json: JsonOption = False) -> None:
    """Give a connection a new name; the Web Connector goes on working (same username and token)."""
    from qbwc_service import connection_usecases

    with open_db() as db:
        renamed = connection_usecases.rename_connection(db, old, new)
        if as_json:
            print_json({"name": renamed.name, "old_name": old, "username": renamed.username})
            return
    out.print(f"connection {old!r} is now {new!r}; its Web Connector username ({renamed.username}) and token "
              "are unchanged", markup=False, highlight=False)


@app.command("delete")
def connection_delete(
    name: str,
    yes: Annotated[bool, typer.Option("--yes", help="Delete it: without this, only say what would be deleted.")]
    = False,
    force: Annotated[bool, typer.Option("--force", help="Delete it even with unfinished jobs (queued, sent, failed "
                                        "or unknown), which are then never sent or settled.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Delete a connection with its jobs, sessions, events, links and pulled records, in one transaction."""
    from qbwc_service import connection_usecases

    with open_db() as db:
        held, unfinished = connection_usecases.connection_holdings(db, name)
        if not yes:
            flags = "--yes" if force or not unfinished else "--yes --force"
            fail(f"connection {name!r} holds {_holdings(held)}, all deleted with it{_unfinished_note(unfinished)}; "
                 f"run again with {flags} to delete it")
        try:
            deleted = connection_usecases.delete_connection(db, name, force=force)
        except ConnectionBusy as exc:
            fail(f"{exc} (--force)")
    if as_json:
        print_json({"name": name, "deleted": dataclasses.asdict(deleted)})
        return
    out.print(f"deleted connection {name!r} and its {_holdings(deleted)}; remove its application from the Web "
              "Connector too", markup=False, highlight=False)


def _holdings(held: Holdings) -> str:
    return (f"{held.jobs} jobs, {held.sessions} sessions, {held.events} events, {held.links} links and "
            f"{held.deliveries} pulled records")


def _unfinished_note(unfinished: dict[str, int]) -> str:
    if not unfinished:
        return ""
    counts = ", ".join(f"{count} {status}" for status, count in sorted(unfinished.items()))
    return f" ({sum(unfinished.values())} of the jobs unfinished, {counts}: they would never be sent or settled)"


# ---------------------------------------------------------------- the Fusion account

@app.command("fusion")
def connection_fusion(
    name: str,
    url: Annotated[str | None, typer.Option(help="The Fusion Operations API's base URL, e.g. "
                                            "https://api.aps.autodesk.com/fusion-operations/v2 (not needed to set "
                                            "only the webhook secret).")] = None,
    token: Annotated[str | None, typer.Option(help="A bearer token, used as it is. '-' reads it from standard "
                                              "input.")] = None,
    client_id: Annotated[str | None, typer.Option(help="An OAuth client id (with --client-secret, or with "
                                                  "--refresh-token).")] = None,
    client_secret: Annotated[str | None, typer.Option(help="The OAuth client's secret. '-' reads it from "
                                                      "standard input.")] = None,
    refresh_token: Annotated[str | None, typer.Option(help="An OAuth refresh token (3-legged), exchanged for "
                                                      "access tokens. '-' reads it from standard input.")] = None,
    token_url: Annotated[str | None, typer.Option(help="The OAuth token endpoint (default: Autodesk's, or "
                                                  "/authentication/v2/token on the URL's host).")] = None,
    scope: Annotated[str | None, typer.Option(help="OAuth scopes (default: 'data:read data:write').")] = None,
    webhook_secret: Annotated[str | None, typer.Option(help="The shared secret Fusion signs this connection's "
                                                       "webhooks with (16 characters or more). '-' reads it from "
                                                       "standard input.")] = None,
    new_webhook_secret: Annotated[bool, typer.Option("--new-webhook-secret", help="Make a random webhook secret, "
                                                     "shown this once, to give to Fusion.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Set the connection's Fusion Operations account: its API URL and a bearer token, or an OAuth client
    (client id and secret, or a refresh token); and the secret its webhooks are signed with. Secrets are stored
    encrypted with the secret key (QBWC_SECRET_KEY) and never printed; `connection test-fusion` tries them."""
    from qbwc_service import automation, connection_usecases
    from qbwc_service.fusion_accounts import FusionCredentials

    if sum(value == "-" for value in (token, client_secret, refresh_token, webhook_secret)) > 1:
        fail("only one secret can be read from standard input ('-')")
    if webhook_secret is not None and new_webhook_secret:
        fail("give --webhook-secret or --new-webhook-secret, not both")
    wants_secret = webhook_secret is not None or new_webhook_secret
    if url is None and not wants_secret:
        fail("give --url with a way to sign in, and/or --webhook-secret (or --new-webhook-secret)")
    credentials = FusionCredentials(base_url=url, token=_secret(token), client_id=client_id,
                                    client_secret=_secret(client_secret), refresh_token=_secret(refresh_token),
                                    token_url=token_url, scope=scope) if url is not None else None
    shared = _secret(webhook_secret)
    settings = current_settings()
    with open_db() as db:
        done = (connection_usecases.configure_fusion(db, name, credentials, settings) if credentials is not None
                else None)
        made = automation.set_webhook_secret(db, name, settings, shared) if wants_secret else None
    if as_json:
        print_json({**(dataclasses.asdict(done) if done else {"connection": name}),
                    **({"webhook_secret_set": True} if made is not None else {}),
                    **({"webhook_secret": made} if new_webhook_secret else {})})
        return
    if done is not None:
        via = f", tokens from {done.token_url}" if done.token_url else ""
        out.print(f"{done.connection}: Fusion at {done.base_url} ({done.auth_kind}{via}); secrets stored encrypted. "
                  f"Try them: qbwc-service connection test-fusion {_quoted(done.connection)}", markup=False,
                  highlight=False)
    if made is not None:
        where = f"{settings.public_url.rstrip('/')}/api/v1/webhooks/fusion?connection={quote(name)}"
        shown = f": {made} (shown this once)" if new_webhook_secret else ""
        out.print(f"{name}: webhook secret stored encrypted{shown}. Webhook URL: {where}", markup=False,
                  highlight=False)


@app.command("test-fusion")
def connection_test_fusion(name: str, as_json: JsonOption = False) -> None:
    """Say in one line whether Fusion answers the connection's credentials, and as which account."""
    from qbwc_service import connection_usecases
    from qbwc_service.db.engine import make_sessionmaker

    settings = current_settings()
    engine = engine_for(settings)
    try:
        tested = connection_usecases.test_fusion(make_sessionmaker(engine), name, settings)
    finally:
        engine.dispose()
    if as_json:
        account = tested.account
        print_json({"connection": tested.connection, "url": tested.base_url, "ok": tested.ok,
                    "account": {"id": account.id, "name": account.name, "user": account.user} if account else None,
                    "error": str(tested.error) if tested.error else None,
                    "status": tested.error.status if tested.error else None,
                    "transient": tested.error.transient if tested.error else None})
    else:
        out.print(tested.line(), markup=False, highlight=False)
    if not tested.ok:
        raise typer.Exit(1)


def _secret(value: str | None) -> str | None:
    if value != "-":
        return value
    read = sys.stdin.readline().strip()
    if not read:
        fail("nothing was read from standard input for the secret given as '-'")
    return read


def _quoted(name: str) -> str:
    return f'"{name}"' if " " in name else name


def secret_key() -> None:
    """Print a new random secret key, to set as QBWC_SECRET_KEY (or secret_key in the settings file): it encrypts
    the Fusion credentials in the database. Keep it safe and keep it: without it they cannot be read."""
    from qbwc_service.secretbox import new_key

    write(new_key() + "\n")
