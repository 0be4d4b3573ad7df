"""Attack 6: username enumeration by timing. An unknown username was answered in 5.1 ms (median, PostgreSQL), a
known one with a wrong token in 7.3 ms: one request told them apart 87% of the time. Every refusal now does the
same work: the same SQL statements in the same order, and one hash of the token. (The times themselves are
measured by bench/auth_timing.py; the suite asserts no timings.)"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Engine, event

from qbwc_service import connections
from qbwc_service.db.engine import make_sessionmaker
from qbwc_service.settings import load_settings
from tests.inprocess import in_process
from tests.support import Paired, pair

pytestmark = pytest.mark.each_database


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements run on ``engine`` meanwhile, in order, their values left out (bound parameters)."""
    seen: list[str] = []

    def note(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        seen.append(re.sub(r"\s+", " ", statement).strip())

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


@contextmanager
def hashes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    made: list[str] = []
    original = connections.hash_token

    def counting(token: str, salt: str | None = None) -> str:
        made.append(token)
        return original(token, salt)

    monkeypatch.setattr(connections, "hash_token", counting)
    yield made


def test_every_refusal_runs_the_same_statements_whatever_the_username(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    protocol = in_process(engine, auth_failures_per_username=3)
    paired = pair(protocol.sessions)
    revoked = pair(protocol.sessions, "Revoked Plant")
    with protocol.sessions.begin() as db:
        connections.revoke(db, revoked.name)

    def refusal(username: str, address: str) -> Callable[[], list[str]]:
        return lambda: protocol.protocol.authenticate(username, "not-the-token", None, address)

    cases: dict[str, Callable[[], list[str]]] = {
        "unknown username": refusal("nobody", "192.0.2.1"),
        "known username, wrong token": refusal(paired.username, "192.0.2.2"),
        "revoked token": refusal(revoked.username, "192.0.2.3"),
        "another unknown username, same address": refusal("nobody-else", "192.0.2.1"),
        "known username again, same window": refusal(paired.username, "192.0.2.2"),
    }
    seen: dict[str, tuple[list[str], int]] = {}
    for case, call in cases.items():
        with statements(engine) as run, hashes(monkeypatch) as hashed:
            assert call() == ["", "nvu"]
        seen[case] = (run, len(hashed))
    # the known username is now locked after its third refusal; a locked one does the same work again
    with statements(engine) as run, hashes(monkeypatch) as hashed:
        assert protocol.protocol.authenticate(paired.username, "not-the-token", None, "192.0.2.2") == ["", "nvu"]
        assert protocol.protocol.authenticate(paired.username, paired.token, None, "192.0.2.9") == ["", "nvu"]
    seen["locked username"] = (run[:len(run) // 2], len(hashed) // 2)
    seen["locked username, the right token"] = (run[len(run) // 2:], len(hashed) // 2)
    reference = seen["unknown username"]
    assert reference[1] == 1 and len(reference[0]) >= 4
    for case, work in seen.items():
        assert work == reference, case


def test_a_success_and_its_bookkeeping_stay_apart_from_the_refusal_path(engine: Engine) -> None:
    """The right token still opens a session after refusals (the refusal path leaves the connection usable)."""
    settings = load_settings(database_url=engine.url.render_as_string(hide_password=False))
    assert settings.auth_failures_per_username > 2
    protocol = in_process(engine)
    paired: Paired = pair(make_sessionmaker(engine))
    for _ in range(2):
        assert protocol.protocol.authenticate("nobody", paired.token, None, "192.0.2.1") == ["", "nvu"]
        assert protocol.protocol.authenticate(paired.username, "wrong", None, "192.0.2.1") == ["", "nvu"]
    ticket, status, *_ = protocol.protocol.authenticate(paired.username, paired.token, None, "192.0.2.1")
    assert ticket and status == "none"
