"""Attack 7: no rate limit, and the operator's view spoofed. Wrong tokens for a known username were unlimited and
overwrote last_auth_outcome / last_contact_at. Refusals are limited per username and per client address, shared
by every process through the database, with a lockout that is logged and shown to the operator; the last
successful contact is kept apart; unknown usernames add no rows."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, inspect, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from qbwc_service.authentication import address_key
from qbwc_service.cli import app as cli_app
from qbwc_service.clock import FakeClock
from qbwc_service.db.engine import make_engine, make_sessionmaker
from qbwc_service.db.models import AuthFailures, Connection, Event
from qbwc_service.sessions import WebConnectorSessions
from qbwc_service.settings import load_settings
from tests.inprocess import Protocol, in_process
from tests.support import Paired, pair

LIMITS = {"auth_failures_per_username": 3, "auth_failures_per_address": 5, "auth_window_seconds": 60,
          "auth_lockout_seconds": 120}
HOME, ELSEWHERE, ATTACKER = "198.51.100.7", "203.0.113.9", "192.0.2.66"


@pytest.fixture
def limited(engine: Engine) -> Protocol:
    return in_process(engine, **LIMITS)


def _auth(protocol: Protocol, paired: Paired, token: str | None = None, address: str = HOME,
          username: str | None = None) -> list[str]:
    return protocol.protocol.authenticate(username or paired.username, token or paired.token, None, address)


def _connection(sessions: sessionmaker[Session], paired: Paired) -> Connection:
    with sessions.begin() as db:
        found = db.get(Connection, paired.id)
        assert found is not None
        return found


@pytest.mark.each_database
def test_wrong_tokens_leave_the_last_successful_contact_alone(limited: Protocol) -> None:
    paired = pair(limited.sessions)
    assert _auth(limited, paired)[1] != "nvu"
    succeeded = limited.clock.now()
    limited.clock.advance(seconds=5)
    assert _auth(limited, paired, "wrong", ATTACKER) == ["", "nvu"]
    assert _auth(limited, paired, "wrong", ATTACKER) == ["", "nvu"]
    seen = _connection(limited.sessions, paired)
    assert (seen.last_auth_at, seen.last_contact_at, seen.last_auth_outcome) == (succeeded, succeeded, "ok")
    assert seen.last_auth_address == HOME
    assert (seen.last_failed_auth_at, seen.last_failed_auth_outcome, seen.failed_auths) == (
        limited.clock.now(), "wrong-password", 2)


@pytest.mark.each_database
def test_a_username_is_locked_after_its_refusals_but_not_for_its_own_address(
        limited: Protocol, caplog: pytest.LogCaptureFixture) -> None:
    paired = pair(limited.sessions)
    assert _auth(limited, paired, address=HOME)[1] != "nvu"  # the Web Connector's own address
    for _ in range(3):
        assert _auth(limited, paired, "guess", ATTACKER) == ["", "nvu"]
    seen = _connection(limited.sessions, paired)
    assert seen.locked_until == limited.clock.now() + timedelta(seconds=120)
    assert [r for r in caplog.records if r.getMessage().startswith("authentication locked for a username")]
    with limited.sessions.begin() as db:
        kinds = list(db.scalars(select(Event.kind).where(Event.kind.in_(["auth-refused", "auth-locked"]))
                                .order_by(Event.id)))
    assert kinds == ["auth-refused", "auth-locked"]  # one event per window, one per lockout
    # locked: even the right token is refused, except from the address that last authenticated
    assert _auth(limited, paired, address=ELSEWHERE) == ["", "nvu"]
    assert _connection(limited.sessions, paired).last_failed_auth_outcome == "locked"
    assert _auth(limited, paired, address=HOME)[1] != "nvu"
    limited.clock.advance(seconds=121)
    assert _auth(limited, paired, address=ELSEWHERE)[1] != "nvu"


@pytest.mark.each_database
def test_an_address_is_locked_after_its_refusals_whatever_it_sends(limited: Protocol,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    paired = pair(limited.sessions)
    for n in range(5):
        assert _auth(limited, paired, "x", ATTACKER, username=f"nobody-{n}") == ["", "nvu"]
    assert [r for r in caplog.records if r.getMessage().startswith("authentication locked for a client address")]
    assert _auth(limited, paired, address=ATTACKER) == ["", "nvu"]  # the right token, from the locked address
    assert _auth(limited, paired, address=HOME)[1] != "nvu"
    limited.clock.advance(seconds=121)
    assert _auth(limited, paired, address=ATTACKER)[1] != "nvu"


@pytest.mark.each_database
def test_the_limits_hold_across_processes(engine: Engine) -> None:
    """Two `serve` processes: two protocols, each with its own engine (its own connections) on one database."""
    clock = FakeClock()
    settings = load_settings(database_url=engine.url.render_as_string(hide_password=False), **LIMITS)
    engines = [make_engine(settings.database_url) for _ in range(2)]
    try:
        processes = [WebConnectorSessions(make_sessionmaker(own), settings, clock) for own in engines]
        paired = pair(make_sessionmaker(engine))
        for n in range(3):
            assert processes[n % 2].authenticate(paired.username, "guess", None, ATTACKER) == ["", "nvu"]
        assert processes[1].authenticate(paired.username, paired.token, None, ELSEWHERE) == ["", "nvu"]
        assert processes[0].authenticate(paired.username, paired.token, None, ELSEWHERE) == ["", "nvu"]
    finally:
        for own in engines:
            own.dispose()


@pytest.mark.each_database
def test_unknown_usernames_add_no_rows_and_old_address_rows_are_pruned(engine: Engine) -> None:
    protocol = in_process(engine, auth_failures_per_address=10_000, auth_window_seconds=60,
                          auth_lockout_seconds=60)
    paired = pair(protocol.sessions)

    def rows() -> int:
        with protocol.sessions.begin() as db:
            return sum(db.scalar(select(func.count()).select_from(table)) or 0
                       for table in Connection.metadata.sorted_tables)

    before = rows()
    for n in range(300):
        assert _auth(protocol, paired, "x", ATTACKER, username=f"spray-{n}-" + "u" * 90) == ["", "nvu"]
    assert rows() == before + 1  # the attacking address's counter, nothing per username
    for n in range(50):
        assert _auth(protocol, paired, "x", f"192.0.2.{n}", username="nobody") == ["", "nvu"]
    with protocol.sessions.begin() as db:
        assert db.scalar(select(func.count()).select_from(AuthFailures)) == 51
    protocol.clock.advance(seconds=61)
    assert _auth(protocol, paired, "x", "192.0.2.200", username="nobody") == ["", "nvu"]
    with protocol.sessions.begin() as db:
        assert list(db.scalars(select(AuthFailures.address))) == ["192.0.2.200"]
    assert "qbwc_auth_failures" in inspect(engine).get_table_names()


@pytest.mark.each_database
def test_the_operator_sees_the_lockout_and_can_lift_it(limited: Protocol, engine: Engine,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    paired = pair(limited.sessions)
    for _ in range(3):
        _auth(limited, paired, "guess", ATTACKER)
    for n in range(5):
        _auth(limited, paired, "x", ATTACKER, username=f"nobody-{n}")
    monkeypatch.setenv("QBWC_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    cli = CliRunner()
    listed = json.loads(cli.invoke(cli_app, ["connection", "list", "--json"], catch_exceptions=False).stdout)[0]
    assert listed["locked_until"] is not None and listed["last_failed_auth_outcome"] == "wrong-password"
    assert listed["failed_auths"] == 3 and listed["last_auth_outcome"] is None
    text = cli.invoke(cli_app, ["connection", "list"], catch_exceptions=False).stdout
    assert "locked until" in text and f"client address {ATTACKER} is locked until" in text
    assert "no longer locked" in cli.invoke(cli_app, ["connection", "unlock", paired.name],
                                            catch_exceptions=False).stdout
    assert _auth(limited, paired, address=ELSEWHERE)[1] != "nvu"
    with limited.sessions.begin() as db:
        assert db.scalar(select(func.count()).select_from(Event).where(Event.kind == "auth-unlocked")) == 1


def test_an_address_counts_as_its_ipv4_address_or_its_ipv6_slash_64() -> None:
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("::ffff:192.0.2.1") == "192.0.2.1" == address_key("192.0.2.1")
    assert address_key("") == "" and address_key("x" * 100) == "x" * 64
