"""The command line, run in-process against a SQLite file it creates itself."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from typer.testing import CliRunner

from qbwc_service.cli import app, main
from tests.conftest import LiveServer, free_port


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("QBWC_CONFIG", raising=False)
    monkeypatch.setenv("QBWC_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("QBWC_PUBLIC_URL", "https://qb.example.com")
    return CliRunner()


def set_job(tmp_path: Path, job_id: int, **columns: str) -> None:
    """Write columns of a job straight into the CLI's database, as a session would have."""
    with closing(sqlite3.connect(tmp_path / "cli.db")) as conn, conn:
        for column, value in columns.items():
            conn.execute(f"UPDATE qbwc_jobs SET {column} = ? WHERE id = ?", (value, job_id))


def run(cli: CliRunner, *args: str) -> str:
    """Run a command that must succeed; its stdout."""
    result = cli.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def run_failing(args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                code: int = 1) -> str:
    """Run the console script as a user would; it must fail with exit code ``code`` (2: a command line that does
    not parse) and one line on stderr, which is returned."""
    err = run_main(args, capsys, monkeypatch, code).err
    assert err.count("\n") == 1 and err.startswith("error: "), err  # one clear line
    return err


def run_main(args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
             code: int = 0) -> pytest.CaptureResult[str]:
    """Run the console script, expecting exit code ``code``; its stdout and stderr."""
    capsys.readouterr()
    monkeypatch.setattr("sys.argv", ["qbwc-service", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == code
    return capsys.readouterr()


def test_first_run_needs_no_setup_and_pairing_works(cli: CliRunner, tmp_path: Path) -> None:
    made = json.loads(run(cli, "connection", "create", "Acme Plant", "--json"))
    assert made["name"] == "Acme Plant" and made["username"] == "acme-plant" and len(made["token"]) >= 32
    assert (tmp_path / "cli.db").exists()
    run(cli, "connection", "qwc", "Acme Plant", "-o", "acme.qwc")
    qwc = etree.parse(str(tmp_path / "acme.qwc")).getroot()
    assert qwc.findtext("AppURL") == "https://qb.example.com/qbwc"
    assert qwc.findtext("UserName") == "acme-plant"
    owner = qwc.findtext("OwnerID")
    run(cli, "connection", "qwc", "Acme Plant", "-o", "again.qwc")
    assert etree.parse(str(tmp_path / "again.qwc")).getroot().findtext("OwnerID") == owner  # stable
    rotated = json.loads(run(cli, "connection", "token", "Acme Plant", "--json"))
    assert rotated["token"] != made["token"]
    run(cli, "connection", "revoke", "Acme Plant")
    listed = json.loads(run(cli, "connection", "list", "--json"))
    assert listed[0]["name"] == "Acme Plant" and listed[0]["token"] == "revoked"
    assert listed[0]["last_auth_outcome"] is None


def test_enqueue_and_steer_jobs(cli: CliRunner, tmp_path: Path) -> None:
    run(cli, "connection", "create", "Shop")
    request = tmp_path / "customer.xml"
    request.write_text("<CustomerAddRq><CustomerAdd><Name>Acme Corp</Name></CustomerAdd></CustomerAddRq>")
    assert "job 1 queued" in run(cli, "enqueue", "raw", "Shop", str(request), "--key", "acme")
    assert "already queued" in run(cli, "enqueue", "raw", "Shop", str(request), "--key", "acme")
    assert "job 2 queued" in run(cli, "enqueue", "probe", "Shop")
    rows = json.loads(run(cli, "jobs", "list", "--json"))
    assert [(r["id"], r["kind"], r["status"]) for r in rows] == [(2, "probe", "queued"), (1, "raw", "queued")]
    shown = json.loads(run(cli, "jobs", "show", "1", "--json"))
    assert "Acme Corp" in shown["payload"]["request"] and shown["key"] == "acme"
    assert "(not sent yet)" in run(cli, "jobs", "show", "1")
    assert "cancelled" in run(cli, "jobs", "cancel", "1")
    assert "queued" in run(cli, "jobs", "retry", "1")
    rows = json.loads(run(cli, "jobs", "list", "--status", "queued", "--connection", "Shop", "--json"))
    assert len(rows) == 2


def test_errors_are_one_line_and_exit_1(
    cli: CliRunner, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run(cli, "connection", "create", "Shop")
    assert "exists already" in run_failing(["connection", "create", "Shop"], capsys, monkeypatch)
    assert "no connection named" in run_failing(["connection", "token", "Nope"], capsys, monkeypatch)
    assert "no job 99" in run_failing(["jobs", "retry", "99"], capsys, monkeypatch)
    bad = tmp_path / "bad.xml"
    bad.write_text("<QBXML><QBXMLMsgsRq/></QBXML>")
    assert "root element" in run_failing(["enqueue", "raw", "Shop", str(bad)], capsys, monkeypatch)
    bomb = tmp_path / "bomb.xml"
    bomb.write_text('<!DOCTYPE a [<!ENTITY x "xx">]><CustomerAddRq>&x;</CustomerAddRq>')
    assert "DOCTYPE" in run_failing(["enqueue", "raw", "Shop", str(bomb)], capsys, monkeypatch)
    assert "cannot read" in run_failing(["enqueue", "raw", "Shop", str(tmp_path / "absent.xml")], capsys, monkeypatch)
    assert "unknown status" in run_failing(["jobs", "list", "--status", "lost"], capsys, monkeypatch)
    rows = json.loads(run(cli, "jobs", "list", "--json"))
    assert rows == []  # nothing was queued by the refused requests
    monkeypatch.setenv("QBWC_PORT", "eighty")
    assert "invalid setting port" in run_failing(["jobs", "list"], capsys, monkeypatch)


def test_a_qbxml_error_is_one_line_and_exit_1_too(
    cli: CliRunner, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run(cli, "db", "upgrade")  # else serve creates the database first, and says so
    empty = tmp_path / "no-schema"
    empty.mkdir()
    monkeypatch.setenv("QBWC_QBXML_SCHEMA_DIR", str(empty))
    monkeypatch.setattr("qbwc_service.cli.server.configure_logging", lambda level: None)
    monkeypatch.setattr("uvicorn.run", lambda *args, **kwargs: pytest.fail("serve started without a schema"))
    assert "no qbxmlops130.xsd or qbxmlops160.xsd" in run_failing(["serve"], capsys, monkeypatch)


def test_simulate_command_runs_a_session(server: LiveServer, cli: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support import enqueue_customers, jobs, pair

    monkeypatch.setenv("QBWC_DATABASE_URL", server.settings.database_url)
    paired = pair(server.sessions)
    enqueue_customers(server.sessions, paired.id, ["Simulated Customer"])
    output = run(cli, "simulate", "--url", server.soap_url, "--username", paired.username,
                 "--password", paired.token)
    assert "outcome: done" in output and "authenticate" in output
    assert [j.status for j in jobs(server.sessions)] == ["done"]
    failed = cli.invoke(app, ["simulate", "--url", server.soap_url, "--username", paired.username,
                              "--password", "wrong"])
    assert failed.exit_code == 1 and "nvu" in failed.output


def test_simulated_company_survives_restarts_in_a_state_file(
    server: LiveServer, cli: CliRunner, tmp_path: Path
) -> None:
    from qbwc_service.simulate.quickbooks import QuickBooksCompany
    from tests.support import enqueue_customers, pair

    paired = pair(server.sessions)
    state = tmp_path / "company.json"
    args = ["simulate", "--url", server.soap_url, "--username", paired.username, "--password", paired.token,
            "--state", str(state)]
    for name in ("First Run Co", "Second Run Co"):
        enqueue_customers(server.sessions, paired.id, [name])
        assert "outcome: done" in run(cli, *args)
    company = QuickBooksCompany.from_seed(state_file=state)
    assert company.find("Customer", FullName="First Run Co") and company.find("Customer", FullName="Second Run Co")


def test_connection_unpin_and_a_new_token_let_the_company_move(
    server: LiveServer, cli: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("QBWC_DATABASE_URL", server.settings.database_url)
    made = json.loads(run(cli, "connection", "create", "Shop", "--json"))

    def update(token: str, company_file: str | None = None) -> tuple[int, str]:
        run(cli, "enqueue", "probe", "Shop")  # something to do, so the session opens the company file
        moved = ["--company-file", company_file] if company_file else []
        result = cli.invoke(app, ["simulate", "--url", server.soap_url, "--username", made["username"],
                                  "--password", token, "--state", str(tmp_path / "company.json"), *moved])
        return result.exit_code, result.output

    def shown() -> dict[str, Any]:
        (row,) = json.loads(run(cli, "connection", "list", "--json"))
        return dict(row)

    assert update(made["token"])[0] == 0
    first = shown()["company_file"]
    assert first and first.endswith(".qbw")
    code, output = update(made["token"], r"D:\Books\shop.qbw")  # the same books on another computer
    assert code == 1 and "connection-error" in output
    assert "connection unpin 'Shop'" in shown()["last_connection_error"]

    assert f"no longer pinned to {first}" in run(cli, "connection", "unpin", "Shop")
    assert shown()["company_file"] is None
    assert "was not pinned" in run(cli, "connection", "unpin", "Shop")
    assert update(made["token"], r"D:\Books\shop.qbw")[0] == 0  # the same token; the next session pins again
    assert shown()["company_file"] == r"D:\Books\shop.qbw"

    assert r"The company file D:\Books\shop.qbw is no longer pinned" in run(cli, "connection", "token", "Shop")
    assert shown()["company_file"] is None
    code, output = update(made["token"], r"E:\shop.qbw")
    assert code == 1 and "nvu" in output  # the old token stops working
    rotated = json.loads(run(cli, "connection", "token", "Shop", "--json"))
    assert "unpinned_company_file" not in rotated  # nothing was pinned any more
    assert update(rotated["token"], r"E:\shop.qbw")[0] == 0  # a new pairing: pinned to the new path
    assert shown()["company_file"] == r"E:\shop.qbw"
    assert json.loads(run(cli, "connection", "token", "Shop", "--json"))["unpinned_company_file"] == r"E:\shop.qbw"


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_options_are_shown_set_validated_and_reset(
    cli: CliRunner, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run(cli, "connection", "create", "Shop")
    shown = json.loads(run(cli, "connection", "options", "Shop"))
    assert shown["document_number"] == "quickbooks_sequence" and shown["stock_sync"] is False
    changed = json.loads(run(cli, "connection", "options", "Shop", "--set", "document_number=fusion_code",
                             "--set", "sales_orders.automatic=true", "--set", "billable=true",
                             "--set", 'custom_fields=[{"qbd_field": "PO", "fusion_field": "Customer PO"}]',
                             "--set", "entity_code_field=Fusion code"))
    assert changed["document_number"] == "fusion_code" and changed["sales_orders"]["automatic"] is True
    assert changed["billable"] is True and changed["custom_fields"][0]["qbd_field"] == "PO"
    assert "stock_adjustment_account" in run_failing(["connection", "options", "Shop", "--set", "stock_sync=true"],
                                                     capsys, monkeypatch)
    assert "document_number" in run_failing(["connection", "options", "Shop", "--set", "document_number=never"],
                                            capsys, monkeypatch)
    assert "colour" in run_failing(["connection", "options", "Shop", "--set", "colour=blue"], capsys, monkeypatch)
    kept = json.loads(run(cli, "connection", "options", "Shop"))
    assert kept["document_number"] == "fusion_code" and kept["stock_sync"] is False  # refused changes saved nothing
    reset = json.loads(run(cli, "connection", "options", "Shop", "--unset", "document_number"))
    assert reset["document_number"] == "quickbooks_sequence"


def test_enqueue_each_flow_from_the_examples(cli: CliRunner) -> None:
    run(cli, "connection", "create", "Shop")
    for command, count in (("sales-order", 1), ("purchase-order", 1), ("receiving", 1), ("shipment", 1),
                           ("production-order", 2)):
        output = run(cli, "enqueue", command, "Shop", str(EXAMPLES / f"{command}.json"))
        assert output.count("queued:") == count, output
        again = run(cli, "enqueue", command, "Shop", str(EXAMPLES / f"{command}.json"))
        assert again.count("already queued") == count
    kinds = sorted(r["kind"] for r in json.loads(run(cli, "jobs", "list", "--json")))
    assert kinds == ["purchase_order", "receiving", "sales_order", "shipment", "time_tracking", "time_tracking"]


def test_a_bad_entity_file_is_refused_and_queues_nothing(
    cli: CliRunner, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run(cli, "connection", "create", "Shop")
    order = json.loads((EXAMPLES / "sales-order.json").read_text())
    del order["client"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(order))
    assert "client: Field required" in run_failing(["enqueue", "sales-order", "Shop", str(bad)], capsys, monkeypatch)
    bad.write_text("{not json")
    assert "not JSON" in run_failing(["enqueue", "sales-order", "Shop", str(bad)], capsys, monkeypatch)
    assert json.loads(run(cli, "jobs", "list", "--json")) == []


def test_stock_send_all_and_send_one(
    cli: CliRunner, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run(cli, "connection", "create", "Shop")
    stock = str(EXAMPLES / "stock.json")
    assert "stock sync is off" in run_failing(["stock", "send-all", "Shop", "--file", stock], capsys, monkeypatch)
    run(cli, "connection", "options", "Shop", "--set", "stock_sync=true",
        "--set", "stock_adjustment_account=Inventory Adjustment", "--set", "stock_only_quickbooks_label=true")
    assert "2 stock updates queued, 1 products skipped" in run(cli, "stock", "send-all", "Shop", "--file", stock)
    assert "already queued" in run(cli, "stock", "send", "Shop", "Gripper Frame GF-20", "--file", stock)
    assert "is not in" in run_failing(["stock", "send", "Shop", "Nope", "--file", stock], capsys, monkeypatch)
    rows = json.loads(run(cli, "jobs", "list", "--json"))
    assert [r["kind"] for r in rows] == ["stock", "stock"]


def test_database_problems_are_one_line_saying_what_to_do(
    cli: CliRunner, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    damaged = tmp_path / "damaged.db"
    damaged.write_bytes(b"this is not a database\n" * 1000)
    monkeypatch.setenv("QBWC_DATABASE_URL", f"sqlite:///{damaged}")
    message = run_failing(["jobs", "list"], capsys, monkeypatch)
    assert f"cannot read the database {damaged}" in message and "restore it from a backup" in message
    # Nothing listens on this port of the loopback: the connection is refused at once.
    monkeypatch.setenv("QBWC_DATABASE_URL", f"postgresql+psycopg://qbwc:secret-pw@127.0.0.1:{free_port()}/qbwc")
    message = run_failing(["connection", "list"], capsys, monkeypatch)
    assert "cannot reach the database at postgresql+psycopg://qbwc:***@127.0.0.1" in message
    assert "QBWC_DATABASE_URL" in message and "secret-pw" not in message


def test_a_database_made_by_a_newer_version_is_refused(
    cli: CliRunner, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run(cli, "connection", "create", "Shop")
    with closing(sqlite3.connect(tmp_path / "cli.db")) as conn, conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    for args in (["jobs", "list"], ["db", "upgrade"]):
        message = run_failing(args, capsys, monkeypatch)
        assert "schema revision 9999, which this version of qbwc-service does not know" in message


def test_other_failures_are_one_line_and_debug_shows_the_traceback(
    cli: CliRunner, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run(cli, "connection", "create", "Shop")
    message = run_failing(["connection", "qwc", "Shop", "-o", str(tmp_path / "absent" / "x.qwc")], capsys, monkeypatch)
    assert "cannot write" in message and "--output" in message
    message = run_failing(["jobs", "show", "99999999999999999999"], capsys, monkeypatch, code=2)
    assert "2147483647" in message and "jobs show --help" in message
    assert "No such option" in run_failing(["jobs", "list", "--colour"], capsys, monkeypatch, code=2)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the disk\nis on fire")

    monkeypatch.setattr("qbwc_service.queue.list_jobs", broken)
    message = run_failing(["jobs", "list"], capsys, monkeypatch)
    assert "unexpected RuntimeError: the disk; is on fire" in message and "--debug" in message
    debugged = run_main(["--debug", "jobs", "list"], capsys, monkeypatch, code=1).err
    assert "Traceback (most recent call last)" in debugged and "RuntimeError: the disk" in debugged
    assert debugged.splitlines()[-1].startswith("error: unexpected RuntimeError")


def test_version(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib.metadata import version

    assert run_main(["--version"], capsys, monkeypatch).out.startswith(f"qbwc-service {version('qbwc-service')}\n")


def test_serve_refuses_a_port_that_does_not_exist(
    cli: CliRunner, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("qbwc_service.cli.server.configure_logging", lambda level: None)
    monkeypatch.setattr("uvicorn.run", lambda *args, **kwargs: pytest.fail("serve started on a port that cannot be"))
    assert "65535" in run_failing(["serve", "--port", "70000"], capsys, monkeypatch, code=2)
    assert "greater than or equal to 1" in run_failing(["serve", "--port", "0"], capsys, monkeypatch, code=2)
    monkeypatch.setenv("QBWC_PORT", "70000")
    assert "invalid setting port" in run_failing(["serve"], capsys, monkeypatch)


LONG_NAME = "Fabrication and Assembly " * 20


def test_redirected_output_is_never_wrapped_or_cut(
    cli: CliRunner, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")  # what a redirected run gets
    run(cli, "connection", "create", "Shop")
    request = tmp_path / "customer.xml"
    request.write_text(f"<CustomerAddRq><CustomerAdd><Name>{LONG_NAME}</Name></CustomerAdd></CustomerAddRq>")
    run(cli, "enqueue", "raw", "Shop", str(request))
    response = (f'<?xml version="1.0" ?><QBXML><QBXMLMsgsRs><CustomerAddRs requestID="1" statusCode="3100" '
                f'statusMessage="The name &quot;{LONG_NAME}&quot; of the list element is already in use."/>'
                "</QBXMLMsgsRs></QBXML>")
    message = f"The name {LONG_NAME} of the list element is already in use."
    set_job(tmp_path, 1, response_xml=response, status_message=message, status="dead")
    shown = run_main(["jobs", "show", "1"], capsys, monkeypatch).out
    assert response in shown.splitlines()  # the XML line whole, not split mid-tag
    assert f"status_message: {message}" in shown.splitlines()
    listed = run_main(["jobs", "list"], capsys, monkeypatch).out
    assert any(message in line and "Shop" in line for line in listed.splitlines())  # one row, nothing cut
    connections = run_main(["connection", "list"], capsys, monkeypatch).out
    assert any("Shop" in line and "never seen" in line and "dead=1" in line for line in connections.splitlines())


def test_jobs_list_names_the_connection_and_filters_by_kind(
    cli: CliRunner, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run(cli, "connection", "create", "Shop")
    run(cli, "connection", "create", "Plant")
    run(cli, "enqueue", "probe", "Shop")
    run(cli, "enqueue", "pull", "Plant", "Customer")
    rows = json.loads(run(cli, "jobs", "list", "--json"))
    assert [(r["connection"], r["kind"]) for r in rows] == [("Plant", "pull"), ("Shop", "probe")]
    assert [r["id"] for r in json.loads(run(cli, "jobs", "list", "--kind", "probe", "--json"))] == [1]
    assert "| Plant" in run(cli, "jobs", "list").replace("│", "|")
    message = run_failing(["jobs", "list", "--kind", "probes"], capsys, monkeypatch)
    assert "unknown kind 'probes'" in message and "probe" in message


def test_every_command_that_prints_data_has_json(cli: CliRunner, tmp_path: Path) -> None:
    assert json.loads(run(cli, "db", "upgrade", "--json"))["revision"]
    run(cli, "connection", "create", "Shop")
    request = tmp_path / "customer.xml"
    request.write_text("<CustomerAddRq><CustomerAdd><Name>Acme</Name></CustomerAdd></CustomerAddRq>")
    assert json.loads(run(cli, "enqueue", "raw", "Shop", str(request), "--json")) == {
        "id": 1, "kind": "raw", "status": "queued", "created": True, "changed": False}
    assert json.loads(run(cli, "enqueue", "probe", "Shop", "--json"))["kind"] == "probe"
    assert json.loads(run(cli, "enqueue", "pull", "Shop", "Invoice", "--json"))["kind"] == "pull"
    made = json.loads(run(cli, "enqueue", "production-order", "Shop", str(EXAMPLES / "production-order.json"),
                          "--json"))
    assert [job["kind"] for job in made] == ["time_tracking", "time_tracking"]
    assert json.loads(run(cli, "jobs", "cancel", "1", "--json")) == {"id": 1, "kind": "raw", "status": "cancelled"}
    assert json.loads(run(cli, "jobs", "retry", "1", "--json"))["status"] == "queued"
    run(cli, "connection", "options", "Shop", "--set", "stock_sync=true",
        "--set", "stock_adjustment_account=Inventory Adjustment", "--set", "stock_only_quickbooks_label=true")
    stock = str(EXAMPLES / "stock.json")
    sent = json.loads(run(cli, "stock", "send-all", "Shop", "--file", stock, "--json"))
    assert len(sent["queued"]) == 2 and len(sent["not_labelled"]) == 1
    assert json.loads(run(cli, "stock", "send", "Shop", "Gripper Frame GF-20", "--file", stock, "--json"))[
        "created"] is False


def test_showing_a_huge_job_is_bounded_and_full_prints_all(
    cli: CliRunner, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run(cli, "connection", "create", "Shop")
    run(cli, "enqueue", "probe", "Shop")
    line = "<SalesOrderLineRet><TxnLineID>1-2</TxnLineID><Desc>Gripper frame, machined</Desc></SalesOrderLineRet>\n"
    response = "<QBXML><QBXMLMsgsRs><SalesOrderAddRs>" + line * 60_000 + "</SalesOrderAddRs></QBXMLMsgsRs></QBXML>"
    assert len(response) > 5_000_000
    set_job(tmp_path, 1, response_xml=response, request_xml="<QBXML><HostQueryRq/></QBXML>")

    shown = run_main(["jobs", "show", "1"], capsys, monkeypatch).out
    assert len(shown) < 100_000  # the first 64 KB, not 5 MB
    head, left_out = response[:64 * 1024], len(response) - 64 * 1024
    assert (f"--- response XML ({len(response):,} bytes; the first 65,536 shown)\n{head}\n"
            f"--- [{left_out:,} bytes of the response XML left out: `qbwc-service jobs show 1 --full` prints all]\n"
            ) in shown
    assert "--- request XML\n<QBXML><HostQueryRq/></QBXML>\n" in shown  # a small column is whole, with no note

    as_json = json.loads(run_main(["jobs", "show", "1", "--json"], capsys, monkeypatch).out)
    assert len(as_json["response_xml"]) <= 64 * 1024 and response.startswith(as_json["response_xml"])
    assert as_json["cut"] == {"response_xml": {"bytes": len(response), "left_out": left_out}}
    assert as_json["payload"] == {} and as_json["connection"] == "Shop" and as_json["warnings"] is None

    full = run_main(["jobs", "show", "1", "--full"], capsys, monkeypatch).out
    assert f"--- response XML\n{response}\n" in full and "left out" not in full
    full_json = json.loads(run_main(["jobs", "show", "1", "--full", "--json"], capsys, monkeypatch).out)
    assert full_json["response_xml"] == response and full_json["cut"] == {}
    assert {k: v for k, v in full_json.items() if k not in ("response_xml", "cut")} == {
        k: v for k, v in as_json.items() if k not in ("response_xml", "cut")}


def test_the_default_database_is_the_same_from_any_folder_and_a_read_never_creates_one(
    cli: CliRunner, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import platformdirs

    monkeypatch.delenv("QBWC_DATABASE_URL")
    database = Path(platformdirs.user_data_dir("qbwc-service", appauthor=False)) / "qbwc-service.db"
    assert f"database: {database} (not created yet;" in run_main(["--version"], capsys, monkeypatch).out
    for read in (["jobs", "list"], ["jobs", "show", "1"], ["connection", "list"], ["connection", "qwc", "Shop"],
                 ["enqueue", "probe", "Shop"]):
        message = run_failing(read, capsys, monkeypatch)
        assert f"no database at {database}: `qbwc-service connection create NAME`" in message
    assert not database.parent.exists()

    created = run_main(["connection", "create", "Shop"], capsys, monkeypatch)
    assert created.err == f"note: created a new database at {database}\n" and database.is_file()
    elsewhere = tmp_path / "another" / "folder"
    elsewhere.mkdir(parents=True)
    monkeypatch.chdir(elsewhere)
    assert json.loads(run(cli, "connection", "list", "--json"))[0]["name"] == "Shop"
    info = json.loads(run(cli, "info", "--json"))
    assert info["database_file"] == str(database) and info["database_is_default"] and info["database_file_exists"]
    assert not (elsewhere / "qbwc-service.db").exists()


def test_an_old_database_in_the_working_folder_is_pointed_out(
    cli: CliRunner, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run(cli, "connection", "create", "Shop")
    (tmp_path / "cli.db").rename(tmp_path / "qbwc-service.db")  # where the default was before
    monkeypatch.delenv("QBWC_DATABASE_URL")
    err = run_main(["jobs", "list"], capsys, monkeypatch, code=1).err
    assert f"set QBWC_DATABASE_URL=sqlite:///{(tmp_path / 'qbwc-service.db').as_posix()}" in err
    monkeypatch.setenv("QBWC_DATABASE_URL", f"sqlite:///{(tmp_path / 'qbwc-service.db').as_posix()}")
    assert json.loads(run(cli, "connection", "list", "--json"))[0]["name"] == "Shop"


def test_connection_rename_keeps_the_pairing(
    cli: CliRunner, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    made = json.loads(run(cli, "connection", "create", "Shop", "--json"))
    run(cli, "connection", "create", "Plant")
    run(cli, "enqueue", "probe", "Shop")
    assert "unchanged" in run(cli, "connection", "rename", "Shop", "Main Shop")
    listed = {c["name"]: c for c in json.loads(run(cli, "connection", "list", "--json"))}
    assert set(listed) == {"Main Shop", "Plant"} and listed["Main Shop"]["username"] == made["username"]
    assert listed["Main Shop"]["jobs"] == {"queued": 1}
    assert "exists already" in run_failing(["connection", "rename", "Main Shop", "Plant"], capsys, monkeypatch)
    assert "must start with a letter" in run_failing(["connection", "rename", "Plant", "A/B"], capsys, monkeypatch)
    assert "no connection named 'Shop'" in run_failing(["connection", "rename", "Shop", "X"], capsys, monkeypatch)


def test_connection_delete_asks_for_yes_refuses_unfinished_jobs_unless_forced(
    cli: CliRunner, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run(cli, "connection", "create", "Shop")
    run(cli, "connection", "create", "Plant")
    run(cli, "enqueue", "probe", "Shop")
    run(cli, "enqueue", "probe", "Plant")
    request = tmp_path / "customer.xml"
    request.write_text("<CustomerAddRq><CustomerAdd><Name>Acme</Name></CustomerAdd></CustomerAddRq>")
    run(cli, "enqueue", "raw", "Shop", str(request))
    set_job(tmp_path, 1, status="done")  # the probe is done; the raw add still queued
    with closing(sqlite3.connect(tmp_path / "cli.db")) as conn, conn:
        conn.execute("UPDATE qbwc_jobs SET depends_on = 1 WHERE id = 3")  # jobs that refer to each other
        conn.execute("INSERT INTO qbwc_links (connection_id, flow, fusion_id, qbd_type, qbd_id, job_id, created_at) "
                     "VALUES (1, 'raw', 'x', 'Customer', '80000001-1', 1, '2026-01-01')")

    message = run_failing(["connection", "delete", "Shop"], capsys, monkeypatch)
    assert "holds 2 jobs, 0 sessions, 3 events, 1 links and 0 pulled records" in message
    assert "1 of the jobs unfinished, 1 queued" in message and "--yes --force" in message
    message = run_failing(["connection", "delete", "Shop", "--yes"], capsys, monkeypatch)
    assert "has 1 unfinished jobs (1 queued)" in message and "(--force)" in message
    assert len(json.loads(run(cli, "jobs", "list", "--json"))) == 3  # nothing was deleted

    deleted = json.loads(run(cli, "connection", "delete", "Shop", "--yes", "--force", "--json"))
    assert deleted == {"name": "Shop", "deleted": {"jobs": 2, "sessions": 0, "events": 3, "links": 1,
                                                   "deliveries": 0}}
    assert [c["name"] for c in json.loads(run(cli, "connection", "list", "--json"))] == ["Plant"]
    assert [(j["connection"], j["kind"]) for j in json.loads(run(cli, "jobs", "list", "--json"))] == [
        ("Plant", "probe")]
    with closing(sqlite3.connect(tmp_path / "cli.db")) as conn:
        assert conn.execute("SELECT count(*) FROM qbwc_links").fetchone() == (0,)
        assert conn.execute("SELECT kind, detail FROM qbwc_events WHERE connection_id IS NULL").fetchall() == [
            ("connection-deleted", "Shop (shop): 2 jobs, 0 sessions, 3 events, 1 links, 0 pulled records")]
    assert "and its 2 jobs" not in run(cli, "connection", "delete", "Plant", "--yes", "--force")
    assert json.loads(run(cli, "connection", "list", "--json")) == []


def test_connection_list_shows_the_web_connector_version(cli: CliRunner, tmp_path: Path) -> None:
    run(cli, "connection", "create", "Shop")
    with closing(sqlite3.connect(tmp_path / "cli.db")) as conn, conn:
        conn.execute("UPDATE qbwc_connections SET client_version = '2.3.0.215', last_auth_outcome = 'ok'")
    header, row = [line for line in run(cli, "connection", "list").splitlines() if "Web Connector" in line
                   or "Shop" in line]
    assert header.index("Web Connector") == row.index("2.3.0.215")
    assert json.loads(run(cli, "connection", "list", "--json"))[0]["client_version"] == "2.3.0.215"


def test_unsetting_an_unknown_option_is_refused(
    cli: CliRunner, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run(cli, "connection", "create", "Shop")
    run(cli, "connection", "options", "Shop", "--set", "document_number=fusion_code")
    message = run_failing(["connection", "options", "Shop", "--unset", "document_numbr"], capsys, monkeypatch)
    assert "invalid option document_numbr: no such option (did you mean document_number?)" in message
    message = run_failing(["connection", "options", "Shop", "--unset", "sales_orders.automatik", "--unset",
                           "document_number"], capsys, monkeypatch)
    assert "did you mean sales_orders.automatic?" in message
    assert "is not a group of options" in run_failing(["connection", "options", "Shop", "--unset", "stock_sync.on"],
                                                      capsys, monkeypatch)
    assert "known: sales_orders, purchase_orders" in run_failing(["connection", "options", "Shop", "--unset", "x"],
                                                                 capsys, monkeypatch)
    assert json.loads(run(cli, "connection", "options", "Shop"))["document_number"] == "fusion_code"  # unchanged
    reset = json.loads(run(cli, "connection", "options", "Shop", "--unset", "sales_orders.automatic"))
    assert reset["sales_orders"] == {"manual": True, "automatic": False}


def test_api_keys_are_shown_once_listed_and_revoked(
    cli: CliRunner, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = json.loads(run(cli, "apikey", "create", "deploy script", "--json"))
    reader = json.loads(run(cli, "apikey", "create", "grafana", "--read-only", "--json"))
    assert admin["scope"] == "admin" and reader["scope"] == "read-only"
    assert admin["key"].startswith("qbwc_") and len(admin["key"]) > 48 and admin["key"] != reader["key"]
    assert "shown once" in run(cli, "apikey", "create", "spare")
    listed = json.loads(run(cli, "apikey", "list", "--json"))
    assert [(k["name"], k["scope"], k["last_used_at"]) for k in listed] == [
        ("deploy script", "admin", None), ("grafana", "read-only", None), ("spare", "admin", None)]
    with closing(sqlite3.connect(tmp_path / "cli.db")) as conn:
        stored = [row[0] for row in conn.execute("SELECT key_hash FROM qbwc_api_keys")]
    assert all(admin["key"].split("_", 2)[2] not in value for value in stored)  # only a hash is kept
    assert admin["key"] not in run(cli, "apikey", "list")
    assert "revoked" in run(cli, "apikey", "revoke", "spare")
    assert [k["name"] for k in json.loads(run(cli, "apikey", "list", "--json"))] == ["deploy script", "grafana"]
    assert "no API key named 'spare'" in run_failing(["apikey", "revoke", "spare"], capsys, monkeypatch)
    assert "exists already" in run_failing(["apikey", "create", "grafana"], capsys, monkeypatch)


def test_unknown_jobs_are_resolved_and_a_lost_raw_add_is_not_retried_blindly(
    cli: CliRunner, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run(cli, "connection", "create", "Shop")
    request = tmp_path / "customer.xml"
    for name in ("A", "B", "C"):
        request.write_text(f"<InvoiceAddRq><InvoiceAdd><CustomerRef><FullName>{name}</FullName></CustomerRef>"
                           "</InvoiceAdd></InvoiceAddRq>")
        run(cli, "enqueue", "raw", "Shop", str(request))
    run(cli, "enqueue", "sales-order", "Shop", str(EXAMPLES / "sales-order.json"))
    for job_id in (1, 2, 3, 4):
        set_job(tmp_path, job_id, status="unknown", status_message="the session expired")
    refused = run_failing(["jobs", "retry", "1"], capsys, monkeypatch)
    assert "jobs resolve 1 --landed" in refused and "--not-landed" in refused
    assert "job 1 is done" in run(cli, "jobs", "resolve", "1", "--landed", "--txn-id", "80000001-1")
    shown = json.loads(run(cli, "jobs", "show", "1", "--json"))
    assert shown["status"] == "done" and shown["result"] == {"TxnID": "80000001-1", "resolved": "landed"}
    assert "job 2 is queued" in run(cli, "jobs", "resolve", "2", "--not-landed")
    assert "only unknown jobs can be resolved" in run_failing(["jobs", "resolve", "2", "--landed"], capsys,
                                                              monkeypatch)
    assert "--landed" in run_failing(["jobs", "resolve", "3"], capsys, monkeypatch)
    # By filter: the sales order carries a marker, so it is retried (looked up first); the raw add is refused.
    result = run_main(["jobs", "retry", "--status", "unknown", "--connection", "Shop"], capsys, monkeypatch, code=1)
    assert "1 jobs retried: 4" in result.out
    assert "job 3 not retried" in result.err and "jobs resolve 3" in result.err
    assert result.err.strip().splitlines()[-1] == "error: 1 jobs were not retried (see above)"
    statuses = {job["id"]: job["status"] for job in json.loads(run(cli, "jobs", "list", "--json"))}
    assert statuses == {1: "done", 2: "queued", 3: "unknown", 4: "queued"}
    resolved = json.loads(run(cli, "jobs", "resolve", "--connection", "Shop", "--not-landed", "--json"))
    assert resolved == {"resolved": [{"id": 3, "kind": "raw", "status": "queued"}], "refused": []}
    assert "give a job id, or --status" in run_failing(["jobs", "retry"], capsys, monkeypatch)
