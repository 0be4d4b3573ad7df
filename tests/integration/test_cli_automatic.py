"""The automatic mode's commands, run as a user would, against the simulated Fusion Operations API on loopback:
enqueue by Fusion id, stock read from Fusion, retrieve, orders close, the webhook secret, poll --once."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qbwc_service.cli import app
from qbwc_service.simulate.fusion import SimulatedFusion
from tests.fusion_support import SEED_TOKEN, ServedFusion, serve_fusion
from tests.integration.test_cli import run, run_failing
from tests.integration.test_cli_fusion import fusion_cli

SHOP = "Acme Plant"


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    runner = fusion_cli(tmp_path, monkeypatch)
    monkeypatch.setenv("QBWC_FUSION_BURST", "1000")
    monkeypatch.setenv("QBWC_FUSION_REQUESTS_PER_MINUTE", "100000")
    return runner


@pytest.fixture
def served(cli: CliRunner) -> Iterator[ServedFusion]:
    with serve_fusion(SimulatedFusion()) as served:
        run(cli, "connection", "create", SHOP)
        run(cli, "connection", "fusion", SHOP, "--url", served.base_url, "--token", SEED_TOKEN)
        yield served


def jobs(tmp_path: Path) -> list[tuple[str, str]]:
    with closing(sqlite3.connect(tmp_path / "cli.db")) as conn:
        return conn.execute("SELECT kind, payload FROM qbwc_jobs ORDER BY id").fetchall()


def test_enqueue_by_fusion_id_sends_what_fusion_holds(cli: CliRunner, served: ServedFusion, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    assert run(cli, "enqueue", "shipment", SHOP, "--fusion-id", "8001") == "job 1 queued: shipment status=queued\n"
    assert run(cli, "enqueue", "shipment", SHOP, "--fusion-id", "8001").startswith("job 1 already queued")
    ((kind, payload),) = jobs(tmp_path)
    sent = json.loads(payload)["entity"]
    assert kind == "shipment" and sent["code"] == "SHP-8001" and sent["sales_order"]["code"] == "SO-5001"
    said = run_failing(["enqueue", "sales-order", SHOP, "--fusion-id", "999"], capsys, monkeypatch)
    assert "999" in said
    both = run_failing(["enqueue", "sales-order", SHOP, "examples/sales-order.json", "--fusion-id", "5001"],
                       capsys, monkeypatch)
    assert "not both" in both


def test_stock_is_read_from_fusion_without_a_file(cli: CliRunner, served: ServedFusion, tmp_path: Path) -> None:
    run(cli, "connection", "options", SHOP, "--set", "stock_sync=true", "--set", "stock_adjustment_account=Inventory")
    said = run(cli, "stock", "send-all", SHOP)
    products = len(served.sim.entities("products"))
    assert said.startswith(f"{products} stock updates queued"), said
    assert run(cli, "stock", "send", SHOP, "Gripper Frame GF-20").startswith("job 1 already queued")
    assert all(kind == "stock" for kind, _payload in jobs(tmp_path))


def test_retrieve_and_orders_close(cli: CliRunner, served: ServedFusion, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    said = run(cli, "retrieve", SHOP, "--since", "2026-11-01", "--types", "sales_order,invoice")
    assert said == ("job 1 queued: pull status=queued (SalesOrder since 2026-11-01T00:00:00)\n"
                    "job 2 queued: pull status=queued (Invoice since 2026-11-01T00:00:00)\n")
    assert "unknown retrieve type bill" in run_failing(["retrieve", SHOP, "--since", "2026-11-01", "--types",
                                                        "sales_order,bill"], capsys, monkeypatch)
    assert "not a date" in run_failing(["retrieve", SHOP, "--since", "yesterday"], capsys, monkeypatch)
    refused = run_failing(["orders", "close", SHOP, "5001"], capsys, monkeypatch)
    assert "was not sent to QuickBooks" in refused
    assert len(jobs(tmp_path)) == 2


def test_the_webhook_secret_and_a_poll(cli: CliRunner, served: ServedFusion, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    made = json.loads(run(cli, "connection", "fusion", SHOP, "--new-webhook-secret", "--json"))
    assert made["webhook_secret_set"] and len(made["webhook_secret"]) >= 32
    with closing(sqlite3.connect(tmp_path / "cli.db")) as conn:
        assert made["webhook_secret"] not in repr(conn.execute("SELECT * FROM qbwc_fusion_accounts").fetchall())
    result = cli.invoke(app, ["connection", "fusion", SHOP, "--webhook-secret", "-"], input="x" * 20 + "\n")
    assert result.exit_code == 0, result.output
    said = result.stdout
    assert "webhook secret stored encrypted. Webhook URL: http://localhost:8080/api/v1/webhooks/fusion?" \
           "connection=Acme%20Plant" in said and "x" * 20 not in said
    assert "at least 16" in run_failing(["connection", "fusion", SHOP, "--webhook-secret", "short"], capsys,
                                        monkeypatch)
    assert "--url" in run_failing(["connection", "fusion", SHOP], capsys, monkeypatch)
    run(cli, "connection", "options", SHOP, "--set", "shipments.automatic=true")
    assert run(cli, "poll", "--once").startswith("1 connections polled: ")
    report = json.loads(run(cli, "poll", "--once", "--json"))
    assert report["errors"] == [] and report["queued"] == 0
