"""The Fusion client against the simulated Fusion Operations API over real HTTP on loopback: reads, creates,
pagination, 429s, 5xx, Fusion down, tokens. The waits are recorded, never slept."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import httpx
import pytest

from qbwc_service.clock import FakeClock
from qbwc_service.fusion.auth import BearerToken, MemoryTokenStore, OAuthClient, OAuthTokens
from qbwc_service.fusion.client import FusionClient
from qbwc_service.fusion.errors import (
    FusionAuthFailed,
    FusionBadAnswer,
    FusionNotFound,
    FusionOutcomeUnknown,
    FusionRateLimited,
    FusionRefused,
    FusionUnavailable,
)
from qbwc_service.fusion.http import RetryPolicy
from qbwc_service.simulate.fusion import TOKEN_PATH, SimulatedFusion
from tests.conftest import free_port
from tests.fusion_support import Clients, RecordedSleep, ServedFusion, serve_fusion


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 12, 5, 10, 0, 0))


@pytest.fixture
def sleep(clock: FakeClock) -> RecordedSleep:
    return RecordedSleep(clock)


@pytest.fixture
def served(clock: FakeClock) -> Iterator[ServedFusion]:
    with serve_fusion(SimulatedFusion(clock=clock, page_size=3)) as served:
        yield served


@pytest.fixture
def clients() -> Iterator[Clients]:
    made = Clients()
    yield made
    made.close_all()


Connect = Callable[..., FusionClient]


@pytest.fixture
def connect(served: ServedFusion, clock: FakeClock, sleep: RecordedSleep, clients: Clients) -> Connect:
    """Makes a client of the simulated API, on the test's clock and recorded sleep (closed when the test ends)."""
    return functools.partial(clients.make, served.base_url, clock, sleep)


def test_reads_what_the_send_flows_need_whole(sleep: RecordedSleep, connect: Connect) -> None:
    client = connect()
    order = client.sales_order(5001)
    assert order.entity.code == "SO-5001" and [line.quantity for line in order.entity.lines] == [4, 20]
    assert order.entity.client.market is not None  # Fusion names the client only; its market is read in
    assert order.entity.client.market.custom_fields == {"QuickBooks customer": "Cascade Robotics"}
    assert order.raw["customFields"] == {"Customer PO": "CR-8812"}  # the JSON is kept beside the model
    assert client.sales_order("SO-5001", by_code=True).entity.id == 5001
    assert client.purchase_order("PO-7001", by_code=True).entity.supplier.code == "Midwest Steel Service Center"
    receiving = client.receiving(9001).entity
    assert receiving.purchase_order.code == "PO-7001" and len(receiving.purchase_order.lines) == 2
    shipment = client.shipment(8001).entity
    assert shipment.sales_order.client.code == "Cascade Robotics" and shipment.lines[0].quantity == 2
    production = client.production_order("WO-1046", by_code=True).entity
    assert [(r.worker.name, r.operation.name) for r in production.time_records] == [
        ("Maria Gonzalez", "Welding Labor"), ("Tom Becker", "Assembly Labor")]
    assert client.stock_level(201).entity.quantity_to_send() == 8  # in stock 12, on orders 4 (Fusion says)
    assert client.stock_level("Mounting Bracket MB-100", by_code=True).entity.quantity_to_send() == 290  # 310 - 20
    assert client.client("Cascade Robotics", by_code=True).entity.market.name == "Automation"  # type: ignore[union-attr]
    assert client.account().name == "Cascade Demo Manufacturing"
    assert sleep.waits == []


def test_creates_and_custom_fields_are_read_back(connect: Connect) -> None:
    client = connect()
    product = client.create_product({"code": "Cabinet Pulls", "name": "Cabinet pulls"})
    order = client.create_sales_order({"code": "QB-SO-1", "client": {"code": "Cascade Robotics"},
                                       "products": [{"product": {"code": "Cabinet Pulls"}, "quantity": 3}]})
    purchase = client.create_purchase_order({"code": "QB-PO-1", "supplier": {"id": 4},
                                             "products": [{"product": {"id": product.id}, "quantity": 5}]})
    assert client.product(product.id).entity.code == "Cabinet Pulls"
    read = client.sales_order(order.id).entity
    assert read.code == "QB-SO-1" and read.lines[0].product.code == "Cabinet Pulls" and read.status == "OPEN"
    assert client.purchase_order(purchase.id).entity.lines[0].quantity == 5
    client.set_custom_fields("sales-orders", order.id, {"QuickBooks TxnID": "1A-2B"})
    assert client.sales_order(order.id).entity.custom_fields == {"QuickBooks TxnID": "1A-2B"}
    with pytest.raises(FusionRefused, match="code 'QB-SO-1' is already used") as caught:
        client.create_sales_order({"code": "QB-SO-1", "client": {"code": "Cascade Robotics"}})
    assert caught.value.status == 400 and caught.value.fusion_message == "code 'QB-SO-1' is already used"
    assert not caught.value.transient


def test_a_missing_entity_is_not_found_with_fusions_word(connect: Connect) -> None:
    client = connect()
    with pytest.raises(FusionNotFound) as caught:
        client.sales_order(999)
    assert caught.value.status == 404 and caught.value.fusion_message == "no sales-orders 999"
    with pytest.raises(FusionNotFound, match="no products with code 'Nope'") as by_code:
        client.product("Nope", by_code=True)
    assert by_code.value.key == "Nope" and by_code.value.status is None


def test_pages_are_followed_and_no_entity_is_missed_even_when_added_between_pages(
    served: ServedFusion, connect: Connect
) -> None:
    for number in range(20):
        served.sim.add("products", {"code": f"P-{number:02}", "name": f"Product {number}"})
    client = connect()
    pages = client.changed("products")
    first = [next(pages) for _ in range(4)]  # the second page is read
    served.sim.add("products", {"code": "P-late", "name": "Added while paging"})
    codes = [e["code"] for e in first] + [e["code"] for e in pages]
    expected = [e["code"] for e in sorted(served.sim.entities("products"), key=lambda e: int(e["id"]))]
    assert codes == expected and len(codes) == len(set(codes)) == 26  # 5 seeded, 20, the late one
    assert served.sim.stats["served"] == 9  # pages of 3


def test_the_modified_since_filter_and_statuses(served: ServedFusion, clock: FakeClock, connect: Connect) -> None:
    client = connect()
    clock.advance(hours=1)
    since = clock.now()
    client.create_sales_order({"code": "New", "client": {"id": 31}})
    client.set_custom_fields("sales-orders", 5001, {"x": "1"})
    assert sorted(e["code"] for e in client.changed("sales-orders", since)) == ["New", "SO-5001"]
    served.sim.add("sales-orders", {"code": "Old closed", "status": "CLOSED", "client": {"id": 31}})
    assert "Old closed" not in [e["code"] for e in client.changed("sales-orders")]  # OPEN only by default
    assert "Old closed" in [e["code"] for e in client.sales_orders()]


def test_429_waits_what_retry_after_says_then_goes_on(
    served: ServedFusion, sleep: RecordedSleep, connect: Connect
) -> None:
    served.sim.throttle_next(3, retry_after=7)
    assert connect().sales_order(5001).entity.code == "SO-5001"
    assert sleep.waits == [7, 7, 7]
    assert served.sim.stats["injected-429"] == 3


def test_the_accounts_own_budget_429_is_waited_out_to_the_next_minute(
    served: ServedFusion, clock: FakeClock, sleep: RecordedSleep, connect: Connect
) -> None:
    served.sim.requests_per_minute = 5
    client = connect()
    for _ in range(12):
        client.product(201)
    assert served.sim.stats["throttled"] == 2 and served.sim.stats["served"] == 12
    assert sum(sleep.waits) == 120  # twice to the next minute of the simulated clock


def test_429_for_longer_than_allowed_is_a_transient_error(
    served: ServedFusion, sleep: RecordedSleep, connect: Connect
) -> None:
    served.sim.throttle_next(10, retry_after=60)
    client = connect(retry=RetryPolicy(max_wait_seconds=150))
    with pytest.raises(FusionRateLimited) as caught:
        client.product(201)
    assert caught.value.transient and caught.value.retry_after == 60 and caught.value.status == 429
    assert sleep.waits == [60, 60]


def test_5xx_is_retried_with_a_doubling_backoff_then_succeeds(
    served: ServedFusion, sleep: RecordedSleep, connect: Connect
) -> None:
    served.sim.fail_next(2, status=502)
    client = connect(retry=RetryPolicy(max_attempts=5, backoff_seconds=2))
    assert client.product(201).entity.code == "Gripper Frame GF-20"
    assert sleep.waits == [2, 4]


def test_fusion_down_beyond_the_retries_is_a_typed_transient_error(
    served: ServedFusion, sleep: RecordedSleep, connect: Connect
) -> None:
    served.sim.fail_next(4, status=503)
    client = connect(retry=RetryPolicy(max_attempts=4, backoff_seconds=1))
    with pytest.raises(FusionUnavailable) as caught:
        client.sales_order(5001)
    error = caught.value
    assert error.transient and error.status == 503 and error.attempts == 4
    assert error.fusion_message == "Service unavailable (simulated)"
    assert sleep.waits == [1, 2, 4]
    # A create that surely did not happen (503) is retried too, and nothing is made twice.
    served.sim.fail_next(1, status=503)
    made = client.create_product({"code": "After the outage"})
    assert [p["code"] for p in served.sim.entities("products")].count("After the outage") == 1
    assert made.code == "After the outage"


def test_nothing_listening_is_unavailable_not_a_crash(clock: FakeClock, sleep: RecordedSleep, clients: Clients) -> None:
    client = clients.make(f"http://127.0.0.1:{free_port()}/fusion-operations/v2", clock, sleep,
                               auth=BearerToken("t"))
    with pytest.raises(FusionUnavailable, match=r"could not be reached .*ConnectError.* after 3 attempts") as caught:
        client.create_sales_order({"code": "X"})  # never reached Fusion: safe to retry, and retried
    assert caught.value.status is None and sleep.waits == [1, 2]


def test_a_create_whose_answer_is_lost_says_so_and_is_not_repeated(
    served: ServedFusion, sleep: RecordedSleep, connect: Connect
) -> None:
    served.sim.fail_next(1, status=500)
    client = connect()
    with pytest.raises(FusionOutcomeUnknown, match="look it up before doing it again") as caught:
        client.create_product({"code": "Maybe"})
    assert caught.value.transient and caught.value.status == 500 and sleep.waits == []
    served.sim.delay_next(1, 1.0)
    slow = connect(timeout=0.2)
    with pytest.raises(FusionOutcomeUnknown, match="ReadTimeout"):
        slow.create_product({"code": "Slow"})


def test_a_slow_answer_is_a_timeout_retried(served: ServedFusion, sleep: RecordedSleep, connect: Connect) -> None:
    served.sim.delay_next(1, 1.0)
    client = connect(timeout=0.2)
    assert client.product(201).entity.code == "Gripper Frame GF-20"
    assert sleep.waits == [1]


def test_a_refused_token_is_an_auth_error(connect: Connect) -> None:
    client = connect(auth=BearerToken("wrong"))
    with pytest.raises(FusionAuthFailed, match=r"401.*three-legged") as caught:
        client.account()
    assert caught.value.status == 401 and not caught.value.transient


def test_a_next_page_on_another_host_is_refused(
    clock: FakeClock, sleep: RecordedSleep, clients: Clients, oauth: OAuth
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"data": [{"id": 1, "code": "A"}],
                                         "pagination": {"nextUrl": "https://elsewhere.example/products?cursor=1"}})

    client = clients.make("https://fusion.example/v2", clock, sleep, auth=BearerToken("t"),
                               http=httpx.Client(transport=httpx.MockTransport(answer)))
    with pytest.raises(FusionBadAnswer, match="another host"):
        list(client.changed("products"))


OAuth = Callable[..., tuple[OAuthTokens, MemoryTokenStore]]


@pytest.fixture
def oauth(served: ServedFusion, clock: FakeClock, clients: Clients) -> OAuth:
    """Makes OAuth token sources of the simulated API's client: client credentials, or ``refresh``."""
    def make(refresh: str | None = None) -> tuple[OAuthTokens, MemoryTokenStore]:
        store = MemoryTokenStore(refresh)
        tokens = OAuthTokens(OAuthClient(served.origin + TOKEN_PATH, "sim-client", "sim-client-secret"), store,
                             clock, clients.http(), refresh=refresh is not None)
        return tokens, store
    return make


def test_client_credentials_are_exchanged_and_renewed_before_expiry(
    served: ServedFusion, clock: FakeClock, connect: Connect, oauth: OAuth
) -> None:
    served.sim.token_lifetime = 600
    tokens, store = oauth()
    client = connect(auth=tokens)
    client.product(201)
    first = store.load().access_token
    clock.advance(minutes=7)
    client.product(201)
    assert store.load().access_token == first  # still well within its lifetime
    clock.advance(minutes=1, seconds=30)  # 8.5 minutes: under two minutes left
    client.product(201)
    assert store.load().access_token != first
    assert served.sim.stats["tokens-issued"] == 2 and served.sim.stats["unauthorized"] == 0


def test_a_refresh_token_is_rotated_and_a_401_renews_once(served: ServedFusion, connect: Connect, oauth: OAuth) -> None:
    tokens, store = oauth(refresh="sim-refresh-token")
    client = connect(auth=tokens)
    assert client.account().name == "Cascade Demo Manufacturing"
    rotated = store.load().refresh_token
    assert rotated not in (None, "sim-refresh-token")  # single use: the new one is kept
    served.sim.issued.clear()  # Fusion forgets the access token (revoked)
    assert client.product(201).entity.id == 201
    assert served.sim.stats["unauthorized"] == 1 and served.sim.stats["tokens-issued"] == 2
    assert store.load().refresh_token not in (None, rotated)


def test_a_refused_refresh_token_is_an_auth_error_naming_oauths_error(
    clock: FakeClock, connect: Connect, oauth: OAuth
) -> None:
    tokens, _store = oauth(refresh="expired-long-ago")
    with pytest.raises(FusionAuthFailed, match="invalid_grant") as caught:
        connect(auth=tokens).account()
    assert caught.value.status == 400
    clock.advance(timedelta(seconds=1))
