"""A connection's Fusion account in the database: secrets encrypted and never logged, OAuth tokens and the
request budget shared by every client of the account (as by every process), on each database."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from qbwc_service import connection_usecases, connections, fusion_accounts
from qbwc_service.clock import FakeClock
from qbwc_service.db.models import FusionAccount
from qbwc_service.errors import InvalidFusionAccount, SecretKeyMissing, SecretUnreadable
from qbwc_service.fusion.budget import DatabaseBudget, Rate
from qbwc_service.fusion_accounts import FusionCredentials
from qbwc_service.secretbox import new_key
from qbwc_service.settings import Settings, load_settings
from qbwc_service.simulate.fusion import SimulatedFusion
from tests.fusion_support import SEED_TOKEN, RecordedSleep, ServedFusion, serve_fusion
from tests.support import pair


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 12, 5, 10, 0, 0))


@pytest.fixture
def sleep(clock: FakeClock) -> RecordedSleep:
    return RecordedSleep(clock)


@pytest.fixture
def keyed(engine: Engine) -> Settings:
    return load_settings(database_url=engine.url.render_as_string(hide_password=False), secret_key=new_key())


@pytest.fixture
def served(clock: FakeClock) -> Iterator[ServedFusion]:
    with serve_fusion(SimulatedFusion(clock=clock)) as served:
        yield served


def configure(sessions: sessionmaker[Session], name: str, settings: Settings, credentials: FusionCredentials,
              clock: FakeClock) -> None:
    with sessions.begin() as db:
        connection_usecases.configure_fusion(db, name, credentials, settings, clock)


def raw_rows(engine: Engine) -> str:
    with engine.connect() as conn:
        return repr([tuple(row) for row in conn.execute(text("SELECT * FROM qbwc_fusion_accounts"))])


@pytest.mark.each_database
def test_secrets_are_encrypted_in_the_database_and_never_in_the_logs(
    engine: Engine, sessions: sessionmaker[Session], keyed: Settings, served: ServedFusion, clock: FakeClock,
    sleep: RecordedSleep, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, httpx's too
    pair(sessions, "Bearer Co")
    pair(sessions, "OAuth Co")
    configure(sessions, "Bearer Co", keyed, FusionCredentials(served.base_url, token=SEED_TOKEN), clock)
    configure(sessions, "OAuth Co", keyed, FusionCredentials(served.base_url, client_id="sim-client",
                                                             refresh_token="sim-refresh-token"), clock)
    for name in ("Bearer Co", "OAuth Co"):
        tested = connection_usecases.test_fusion(sessions, name, keyed, clock, sleep=sleep)
        assert tested.ok and tested.line() == (f"Fusion answered at {served.base_url}: account 'Cascade Demo "
                                               "Manufacturing' (id 1001), signed in as ops@example.com")
    with sessions.begin() as db:
        stored = db.query(FusionAccount).order_by(FusionAccount.id).all()
        assert [(a.auth_kind.value, a.account_id, a.client_id) for a in stored] == [
            ("bearer", "1001", None), ("refresh-token", "1001", "sim-client")]
        assert stored[1].access_token_sealed and stored[1].access_expires_at is not None
    issued = list(served.sim.issued)
    rotated = next(iter(served.sim.account.refresh_tokens))
    secrets_ = [SEED_TOKEN, "sim-refresh-token", rotated, *issued]
    rows = raw_rows(engine)
    assert "sim-client" in rows  # the client id is not a secret
    for secret in secrets_:
        assert secret not in rows
        assert secret not in caplog.text
    assert "Fusion account set up" in caplog.text and "new Fusion access token" in caplog.text


@pytest.mark.each_database
def test_every_client_of_the_account_shares_its_oauth_token(
    sessions: sessionmaker[Session], keyed: Settings, served: ServedFusion, clock: FakeClock, sleep: RecordedSleep,
) -> None:
    served.sim.token_lifetime = 600
    pair(sessions, "Shop")
    configure(sessions, "Shop", keyed, FusionCredentials(served.base_url, client_id="sim-client",
                                                         client_secret="sim-client-secret"), clock)
    first, second = (fusion_accounts.open_client(sessions, "Shop", keyed, clock=clock, sleep=sleep) for _ in "12")
    try:
        first.product(201)
        second.product(202)  # another process: the token in the database, not a new one
        assert served.sim.stats["tokens-issued"] == 1
        clock.advance(minutes=9)
        second.product(201)
        first.product(202)
        assert served.sim.stats["tokens-issued"] == 2 and served.sim.stats["unauthorized"] == 0
    finally:
        first.close()
        second.close()


@pytest.mark.each_database
def test_the_request_budget_is_shared_by_the_clients_of_one_fusion_account(
    sessions: sessionmaker[Session], keyed: Settings, served: ServedFusion, clock: FakeClock, sleep: RecordedSleep,
) -> None:
    """Two connections of one Fusion account, each with a client (as two processes would): Fusion never has to
    answer 429, and never sees more than 120 requests in a minute."""
    for name in ("Plant A", "Plant B"):
        pair(sessions, name)
        configure(sessions, name, keyed, FusionCredentials(served.base_url, token=SEED_TOKEN), clock)
        # names the account: one budget
        assert connection_usecases.test_fusion(sessions, name, keyed, clock, sleep=sleep).ok
    clock.advance(minutes=1)  # the tests asked before the account was known, under each connection's own budget
    clients = [fusion_accounts.open_client(sessions, name, keyed, clock=clock, sleep=sleep)
               for name in ("Plant A", "Plant B")]
    try:
        for number in range(300):
            clients[number % 2].product(201)
    finally:
        for client in clients:
            client.close()
    assert served.sim.stats["throttled"] == 0 and served.sim.stats["served"] == 302
    served_at = served.sim.served_at
    assert max(sum(1 for t in served_at if start <= t < start + 60) for start in served_at) <= 120
    assert sleep.waits and sum(sleep.waits) < 300 * 60 / 110 + 1  # waited, but no longer than the budget needs


@pytest.mark.each_database
def test_concurrent_takes_never_grant_more_than_the_budget(sessions: sessionmaker[Session], clock: FakeClock) -> None:
    """Threads asking one account's budget at the same instant: exactly the burst goes, whatever the races."""
    rate = Rate(120, 10)
    granted: list[int] = []
    errors: list[BaseException] = []

    def ask() -> None:
        budget = DatabaseBudget(sessions, "https://fusion.example|account:1", rate, clock)
        try:
            granted.append(sum(1 for _ in range(15) if budget.take() == 0))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors and sum(granted) == rate.burst


def test_without_a_secret_key_nothing_is_stored(sessions: sessionmaker[Session], settings: Settings,
                                                clock: FakeClock) -> None:
    pair(sessions, "Shop")
    unkeyed = settings.model_copy(update={"secret_key": None, "secret_key_file": None})
    with pytest.raises(SecretKeyMissing, match="storing Fusion credentials is refused"):
        configure(sessions, "Shop", unkeyed, FusionCredentials("https://fusion.example/v2", token="t"), clock)
    with sessions.begin() as db:
        assert db.query(FusionAccount).count() == 0


def test_credentials_read_with_another_key_are_a_clear_error(sessions: sessionmaker[Session], keyed: Settings,
                                                             clock: FakeClock) -> None:
    pair(sessions, "Shop")
    configure(sessions, "Shop", keyed, FusionCredentials("https://fusion.example/v2", token="t"), clock)
    rekeyed = keyed.model_copy(update={"secret_key": load_settings(secret_key=new_key()).secret_key})
    with pytest.raises(SecretUnreadable, match="the Fusion secret of connection 'Shop' cannot be decrypted"):
        fusion_accounts.open_client(sessions, "Shop", rekeyed, clock=clock)


@pytest.mark.parametrize(("credentials", "words"), [
    (FusionCredentials("http://fusion.example/v2", token="t"), "url: 'http://fusion.example/v2' must be https"),
    (FusionCredentials("fusion.example", token="t"), "is not an http(s) URL"),
    (FusionCredentials("https://fusion.example/v2", token="t", client_id="c"), "either a token or OAuth"),
    (FusionCredentials("https://fusion.example/v2", client_id="c"), "needs its secret"),
    (FusionCredentials("https://fusion.example/v2", refresh_token="r"), "needs the OAuth client id"),
    (FusionCredentials("https://fusion.example/v2"), "give a token"),
])
def test_incomplete_or_unsafe_settings_are_refused(sessions: sessionmaker[Session], keyed: Settings,
                                                   clock: FakeClock, credentials: FusionCredentials,
                                                   words: str) -> None:
    pair(sessions, "Shop")
    with pytest.raises(InvalidFusionAccount) as caught:
        configure(sessions, "Shop", keyed, credentials, clock)
    assert words in str(caught.value)


def test_a_connection_deleted_takes_its_fusion_account(sessions: sessionmaker[Session], keyed: Settings,
                                                       clock: FakeClock) -> None:
    pair(sessions, "Shop")
    configure(sessions, "Shop", keyed, FusionCredentials("https://fusion.example/v2", token="t"), clock)
    with sessions.begin() as db:
        connections.delete(db, connections.get_connection(db, "Shop"), clock)
    with sessions.begin() as db:
        assert db.query(FusionAccount).count() == 0


def test_the_default_token_endpoint_is_autodesks_for_fusion_and_the_hosts_own_elsewhere(
    sessions: sessionmaker[Session], keyed: Settings, clock: FakeClock,
) -> None:
    pair(sessions, "Real")
    pair(sessions, "Local")
    with sessions.begin() as db:
        real = connection_usecases.configure_fusion(db, "Real", FusionCredentials(
            "https://api.aps.autodesk.com/fusion-operations/v2", client_id="c", client_secret="s"), keyed, clock)
        local = connection_usecases.configure_fusion(db, "Local", FusionCredentials(
            "http://localhost:9000/fusion-operations/v2/", client_id="c", client_secret="s"), keyed, clock)
    assert real.token_url == "https://developer.api.autodesk.com/authentication/v2/token"
    assert local.token_url == "http://localhost:9000/authentication/v2/token"
    assert local.base_url == "http://localhost:9000/fusion-operations/v2"


