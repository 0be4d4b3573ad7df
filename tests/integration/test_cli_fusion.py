"""connection fusion, connection test-fusion, secret-key and simulate fusion, run as a user would, against the
simulated Fusion Operations API on loopback."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from qbwc_service.cli import app
from qbwc_service.secretbox import new_key
from qbwc_service.simulate.fusion import SimulatedFusion
from tests.fusion_support import SEED_TOKEN, ServedFusion, serve_fusion
from tests.integration.test_cli import run, run_failing


def fusion_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A CLI runner in ``tmp_path`` with a database of its own and a secret key for Fusion credentials."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("QBWC_CONFIG", raising=False)
    monkeypatch.setenv("QBWC_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("QBWC_SECRET_KEY", new_key())
    return CliRunner()


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    return fusion_cli(tmp_path, monkeypatch)


@pytest.fixture
def served() -> Iterator[ServedFusion]:
    with serve_fusion(SimulatedFusion()) as served:
        yield served


def stored(tmp_path: Path) -> str:
    with closing(sqlite3.connect(tmp_path / "cli.db")) as conn:
        return repr(conn.execute("SELECT * FROM qbwc_fusion_accounts").fetchall())


def test_a_bearer_token_set_and_tried(cli: CliRunner, served: ServedFusion, tmp_path: Path) -> None:
    run(cli, "connection", "create", "Acme Plant")
    said = run(cli, "connection", "fusion", "Acme Plant", "--url", served.base_url, "--token", SEED_TOKEN)
    assert said == (f"Acme Plant: Fusion at {served.base_url} (bearer); secrets stored encrypted. Try them: "
                    'qbwc-service connection test-fusion "Acme Plant"\n')
    assert run(cli, "connection", "test-fusion", "Acme Plant") == (
        f"Fusion answered at {served.base_url}: account 'Cascade Demo Manufacturing' (id 1001), signed in as "
        "ops@example.com\n")
    assert SEED_TOKEN not in stored(tmp_path) and "Cascade Demo Manufacturing" in stored(tmp_path)


def test_secrets_read_from_standard_input_and_an_oauth_client(cli: CliRunner, served: ServedFusion,
                                                              tmp_path: Path) -> None:
    run(cli, "connection", "create", "Shop")
    result = cli.invoke(app, ["connection", "fusion", "Shop", "--url", served.base_url, "--client-id", "sim-client",
                              "--client-secret", "-", "--json"], input="sim-client-secret\n")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"connection": "Shop", "base_url": served.base_url,
                                         "auth_kind": "client-credentials",
                                         "token_url": f"{served.origin}/authentication/v2/token"}
    tested: dict[str, Any] = json.loads(run(cli, "connection", "test-fusion", "Shop", "--json"))
    assert tested["ok"] and tested["account"] == {"id": "1001", "name": "Cascade Demo Manufacturing",
                                                  "user": "ops@example.com"}
    assert "sim-client-secret" not in stored(tmp_path)
    assert not [t for t in served.sim.issued if t in stored(tmp_path)]  # the access token kept is encrypted too


def test_refused_credentials_and_fusion_down_say_so_in_one_line_and_exit_1(cli: CliRunner,
                                                                           served: ServedFusion) -> None:
    run(cli, "connection", "create", "Shop")
    run(cli, "connection", "fusion", "Shop", "--url", served.base_url, "--token", "not-the-token")
    refused = cli.invoke(app, ["connection", "test-fusion", "Shop"])
    assert refused.exit_code == 1
    assert refused.stdout.startswith(f"Fusion refused at {served.base_url}: Fusion answered 401 to GET ")
    assert refused.stdout.count("\n") == 1 and "not-the-token" not in refused.stdout
    run(cli, "connection", "fusion", "Shop", "--url", served.base_url, "--token", SEED_TOKEN)
    served.sim.fail_next(2, status=503, retry_after=0)
    down = cli.invoke(app, ["connection", "test-fusion", "Shop", "--json"])
    assert down.exit_code == 1
    answer = json.loads(down.stdout)
    assert answer["ok"] is False and answer["transient"] is True and answer["status"] == 503


def test_no_secret_key_no_fusion_account_and_bad_input_are_one_line_errors(
    cli: CliRunner, served: ServedFusion, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    run(cli, "connection", "create", "Shop")
    assert "has no Fusion Operations account yet" in run_failing(["connection", "test-fusion", "Shop"], capsys,
                                                                 monkeypatch)
    assert "give either a token or OAuth client credentials" in run_failing(
        ["connection", "fusion", "Shop", "--url", served.base_url, "--token", "t", "--client-id", "c"], capsys,
        monkeypatch)
    monkeypatch.delenv("QBWC_SECRET_KEY")
    error = run_failing(["connection", "fusion", "Shop", "--url", served.base_url, "--token", SEED_TOKEN], capsys,
                        monkeypatch)
    assert "no secret key is set, so storing Fusion credentials is refused: make one with `qbwc-service " \
           "secret-key`" in error
    assert stored(tmp_path) == "[]"


def test_secret_key_prints_a_new_key_each_time(cli: CliRunner) -> None:
    first, second = run(cli, "secret-key").strip(), run(cli, "secret-key").strip()
    assert first != second and len(first) == 44


def test_simulate_fusion_serves_the_simulated_api(cli: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    ran: dict[str, Any] = {}
    monkeypatch.setattr("uvicorn.run", lambda application, **options: ran.update(app=application, **options))
    monkeypatch.setattr("qbwc_service.cli.server.configure_logging", lambda level: None)
    said = run(cli, "simulate", "fusion", "--port", "9123", "--requests-per-minute", "30")
    assert "simulated Fusion Operations API (a test double) at http://127.0.0.1:9123/fusion-operations/v2" in said
    assert "tokens ['sim-fusion-token']" in said
    assert ran["port"] == 9123 and ran["host"] == "127.0.0.1" and ran["app"].title.startswith("simulated Fusion")


def test_simulate_without_its_options_is_a_usage_error(cli: CliRunner, capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    assert "missing option --url, --username, --password" in run_failing(["simulate"], capsys, monkeypatch, code=2)
