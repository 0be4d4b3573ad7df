"""The delivery worker where it runs: in the background of a `serve` process, and as `qbwc-service worker` until
SIGTERM, each a process of its own, delivering to the simulated Fusion API on loopback; both end with exit code 0
on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import select

from qbwc_service import connections, deliveries, fusion_accounts
from qbwc_service.clock import SYSTEM_CLOCK
from qbwc_service.db.engine import make_sessionmaker
from qbwc_service.db.enums import DeliveryStatus
from qbwc_service.db.models import Delivery
from qbwc_service.db.ready import open_database
from qbwc_service.secretbox import SecretBox, new_key
from qbwc_service.simulate.fusion import SimulatedFusion
from tests.conftest import free_port
from tests.fusion_support import SEED_TOKEN, ServedFusion, serve_fusion
from tests.support import start_serve

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden" / "retrieve"
WAIT_SECONDS = 30


@pytest.fixture
def fusion() -> Iterator[ServedFusion]:
    with serve_fusion(SimulatedFusion()) as served:
        yield served


def prepared(tmp_path: Path, fusion: ServedFusion) -> dict[str, str]:
    """A database with connection Shop, its Fusion account, and two pulled sales orders; the environment of a
    process using it."""
    key = new_key()
    url = f"sqlite:///{tmp_path / 'service.db'}"
    engine = open_database(url, create=True, migrate=True)
    try:
        with make_sessionmaker(engine).begin() as db:
            shop = connections.create_connection(db, "Shop").connection
            fusion_accounts.configure(db, shop, fusion_accounts.FusionCredentials(fusion.base_url, token=SEED_TOKEN),
                                      SecretBox([key]))
            ret = etree.fromstring((GOLDEN / "sales_order.xml").read_bytes())
            second = etree.fromstring((GOLDEN / "purchase_order.xml").read_bytes())
            records = [deliveries.record_from(ret), deliveries.record_from(second)]
            deliveries.store(db, shop.id, None, [r for r in records if r is not None], SYSTEM_CLOCK.now())
    finally:
        engine.dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith("QBWC_")}
    env.update(PYTHONPATH=str(ROOT), QBWC_DATABASE_URL=url, QBWC_SECRET_KEY=key, QBWC_PORT=str(free_port()),
               QBWC_DELIVERY_POLL_SECONDS="0.2")
    return env


def wait_delivered(url: str, log: Path) -> list[str]:
    engine = open_database(url, create=False, migrate=False)
    try:
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            with make_sessionmaker(engine).begin() as db:
                statuses = [str(s) for s in db.scalars(select(Delivery.status).order_by(Delivery.id))]
            if all(s == DeliveryStatus.DELIVERED for s in statuses):
                return statuses
            time.sleep(0.1)
    finally:
        engine.dispose()
    pytest.fail(f"the records were not delivered: {statuses}\n{log.read_text(errors='replace')}")


def stopped(process: subprocess.Popen[bytes], log: Path) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=WAIT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        pytest.fail(f"still running after SIGTERM:\n{log.read_text(errors='replace')}")


def test_serve_delivers_in_the_background(tmp_path: Path, fusion: ServedFusion) -> None:
    env = prepared(tmp_path, fusion)
    log = tmp_path / "serve.log"
    process = start_serve(tmp_path, env, log)
    try:
        assert wait_delivered(env["QBWC_DATABASE_URL"], log) == ["delivered", "delivered"]
    finally:
        code = stopped(process, log)
    assert code == 0, log.read_text(errors="replace")
    assert {o["code"] for o in fusion.sim.entities("sales-orders")} >= {"SO-2001"}
    assert [o["code"] for o in fusion.sim.entities("purchase-orders")].count("7002") == 1


def test_the_worker_command_delivers_until_sigterm(tmp_path: Path, fusion: ServedFusion) -> None:
    env = prepared(tmp_path, fusion)
    log = tmp_path / "worker.log"
    with log.open("wb") as sink:
        worker = subprocess.Popen([sys.executable, "-m", "qbwc_service.cli", "worker"], cwd=tmp_path, env=env,
                                  stdout=sink, stderr=subprocess.STDOUT)
    try:
        assert wait_delivered(env["QBWC_DATABASE_URL"], log) == ["delivered", "delivered"]
    finally:
        code = stopped(worker, log)
    assert code == 0, log.read_text(errors="replace")
    assert "deliveries: 2 delivered" in log.read_text(errors="replace")
    assert [o["code"] for o in fusion.sim.entities("sales-orders")].count("SO-2001") == 1
