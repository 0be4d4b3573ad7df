"""The one rule on which companies documents are sent to, and how the two signs of a company's country are
learned."""

from __future__ import annotations

import pytest

from qbwc_service import editions
from qbwc_service.db.models import Connection
from qbwc_service.errors import NonUsCompany, Refusal
from qbwc_service.kinds.probe import learn


def company(client: str | None = None, host: str | None = None) -> Connection:
    return Connection(name="Shop", company_name="Harbor Precision", client_country=client, qb_country=host)


@pytest.mark.parametrize(("client", "host"), [(None, None), ("US", None), (None, "US"), ("US", "US"), (" us", "Us ")])
def test_sends_are_allowed_while_no_sign_names_another_country(client: str | None, host: str | None) -> None:
    assert editions.send_refusal(company(client, host)) is None
    editions.refuse_sends_to_non_us(company(client, host))


@pytest.mark.parametrize(("client", "host", "says"), [
    ("CA", None, "a CA edition (the Web Connector reports CA)"),
    (None, "UK", "a UK edition (QuickBooks reports UK)"),
    ("CA", "CA", "a CA edition (the Web Connector and QuickBooks report CA)"),
    ("CA", "US", "may not be a US edition: the Web Connector reports CA but QuickBooks reports US"),
    ("US", "CA", "may not be a US edition: the Web Connector reports US but QuickBooks reports CA"),
    ("CA", "UK", "the Web Connector reports CA but QuickBooks reports UK"),
])
def test_any_non_us_sign_or_a_disagreement_refuses_naming_the_signs(client: str, host: str, says: str) -> None:
    refusal = editions.send_refusal(company(client, host))
    assert isinstance(refusal, NonUsCompany)
    assert refusal.reason is Refusal.NON_US_COMPANY and refusal.subject == "Harbor Precision"
    assert (refusal.client_country, refusal.host_country) == (client, host)
    assert says in refusal.message and "non-US" in refusal.message
    with pytest.raises(NonUsCompany):
        editions.refuse_sends_to_non_us(company(client, host))


def test_each_sign_keeps_its_newest_report() -> None:
    shop = company()
    editions.learn_client_country(shop, "ca")
    editions.learn_host_country(shop, "US")
    assert (shop.client_country, shop.qb_country) == ("CA", "US")
    editions.learn_client_country(shop, "")  # no report: the last one stands
    editions.learn_host_country(shop, None)
    assert (shop.client_country, shop.qb_country) == ("CA", "US")
    editions.learn_client_country(shop, "US")
    assert shop.client_country == "US" and editions.send_refusal(shop) is None


def test_the_probe_reports_quickbooks_own_country() -> None:
    shop = company(client="US", host="US")
    learn(shop, {"company_name": "Harbor Precision", "country": "CA"})
    refusal = editions.send_refusal(shop)
    assert refusal is not None and refusal.host_country == "CA" and refusal.client_country == "US"
