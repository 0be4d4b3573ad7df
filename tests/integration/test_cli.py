"""The command line, run in-process against a SQLite file it creates itself."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from typer.testing import CliRunner

from qbwc_service.cli import app, main
from tests.conftest import LiveServer


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("QBWC_CONFIG", raising=False)
    monkeypatch.setenv("QBWC_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("QBWC_PUBLIC_URL", "https://qb.example.com")
    monkeypatch.setenv("COLUMNS", "200")
    return CliRunner()


def run(cli: CliRunner, *args: str) -> str:
    result = cli.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def run_failing(args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr("sys.argv", ["qbwc-service", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err  # one clear line
    return err


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
