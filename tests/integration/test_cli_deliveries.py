"""`worker --once` and `deliveries list|show|retry`, run as a user would, on records stored as a pull stores
them, against the simulated Fusion Operations API on loopback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from typer.testing import CliRunner

from qbwc_service import connections, deliveries
from qbwc_service.clock import SYSTEM_CLOCK
from qbwc_service.db.engine import make_engine, make_sessionmaker
from qbwc_service.simulate.fusion import SimulatedFusion
from tests.fusion_support import SEED_TOKEN, serve_fusion
from tests.integration.test_cli import run, run_failing
from tests.integration.test_cli_fusion import cli  # noqa: F401 - the fixture

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "retrieve"


def store(tmp_path: Path, *names: str) -> None:
    """The golden QuickBooks records ``names``, stored for connection Shop as a pull stores them."""
    engine = make_engine(f"sqlite:///{tmp_path / 'cli.db'}")
    try:
        with make_sessionmaker(engine).begin() as db:
            records = [deliveries.record_from(etree.fromstring((GOLDEN / f"{name}.xml").read_bytes()))
                       for name in names]
            deliveries.store(db, connections.get_connection(db, "Shop").id, None,
                             [r for r in records if r is not None], SYSTEM_CLOCK.now())
    finally:
        engine.dispose()


def test_the_worker_delivers_once_and_the_operator_sees_and_retries(
        cli: CliRunner, tmp_path: Path, capsys: pytest.CaptureFixture[str],  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    with serve_fusion(SimulatedFusion()) as served:
        run(cli, "connection", "create", "Shop")
        run(cli, "connection", "fusion", "Shop", "--url", served.base_url, "--token", SEED_TOKEN)
        run(cli, "connection", "options", "Shop", "--set", "retrieve.create_missing_products=false")
        store(tmp_path, "sales_order", "invoice_voided", "estimate")
        counts = json.loads(run(cli, "worker", "--once", "--json"))
        # the sales order names products Fusion lacks; the voided invoice is skipped; the estimate's client is
        # not in Fusion: Fusion refuses it
        assert counts == {"delivered": 0, "skipped": 1, "failed": 2, "postponed": 0}
        listed: list[dict[str, Any]] = json.loads(run(cli, "deliveries", "list", "--json"))
        assert [(d["entity"], d["status"]) for d in listed] == [
            ("Estimate", "failed"), ("Invoice", "skipped"), ("SalesOrder", "failed")]
        order = listed[2]
        assert "Fusion has no product 'Hardware:Fasteners:Bolt M8', 'Powder Coating'" in order["last_error"]
        assert "Heron Bay Boatworks" in listed[0]["last_error"]

        run(cli, "connection", "options", "Shop", "--set", "retrieve.create_missing_products=true")
        assert run(cli, "deliveries", "retry", str(order["id"])) == f"delivery {order['id']} is pending\n"
        assert json.loads(run(cli, "worker", "--once", "--json"))["delivered"] == 1
        shown: dict[str, Any] = json.loads(run(cli, "deliveries", "show", str(order["id"]), "--json"))
        assert shown["status"] == "delivered" and shown["fusion_payload"]["code"] == "SO-2001"
        assert shown["ret_xml"].startswith("<SalesOrderRet>") and shown["attempts"] == 2
        (made,) = [o for o in served.sim.entities("sales-orders") if o.get("code") == "SO-2001"]
        assert shown["fusion_id"] == str(made["id"])
        text = run(cli, "deliveries", "show", str(order["id"]))
        assert "Fusion payload:" in text and "QuickBooks XML:" in text

        assert "is delivered; only failed or skipped" in run_failing(["deliveries", "retry", str(order["id"])], capsys,
                                                                   monkeypatch)
        assert run(cli, "deliveries", "retry", "--status", "skipped", "--connection", "Shop") == (
            "1 deliveries retried\n")
        assert json.loads(run(cli, "worker", "--once", "--json"))["skipped"] == 1  # still voided
        assert "unknown status 'lost'" in run_failing(["deliveries", "list", "--status", "lost"], capsys,
                                                           monkeypatch)
