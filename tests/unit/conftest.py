"""Fixtures of the unit tests: a simulated QuickBooks company on a clock the test moves by hand."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from qbwc_service.simulate.quickbooks import QuickBooksCompany

PACIFIC = timezone(timedelta(hours=-7))


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime(2024, 5, 1, 10, 0, 0, tzinfo=PACIFIC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def company(clock: Clock) -> QuickBooksCompany:
    """A company with the customers, the vendor and the items the simulator's tests refer to."""
    made = QuickBooksCompany(clock=clock)
    made.add("Customer", Name="Abercrombie, Kristy")
    made.add("Customer", Name="Family Room", ParentRef="Abercrombie, Kristy")
    made.add("Customer", Name="Baker, Chris")
    made.add("Vendor", Name="Patton Hardware Supplies")
    made.add("ItemInventory", Name="Cabinet Pulls", PurchaseCost="1.50", QuantityOnHand="100",
             IncomeAccountRef="Sales", COGSAccountRef="Cost of Goods Sold", AssetAccountRef="Inventory Asset")
    made.add("ItemService", Name="Installation", SalesOrPurchase__Price="35.00",
             SalesOrPurchase__AccountRef="Services")
    return made
