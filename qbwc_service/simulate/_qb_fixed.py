"""The fixed answers of the simulated QuickBooks company: ``HostRet``, ``CompanyRet`` and ``PreferencesRet``.

Part of the simulated QuickBooks Desktop company (a test double, see ``quickbooks.py``). These are what the Web
Connector puts in the ``strHCPResponse`` of a session's first ``sendRequestXML`` and what ``HostQueryRq``,
``CompanyQueryRq`` and ``PreferencesQueryRq`` answer; built with ``lxml.builder.E`` in schema order.
"""

from __future__ import annotations

from collections.abc import Iterable

from lxml import etree
from lxml.builder import E

from qbwc_service.simulate._qb_parse import version_key


def host_ret(
    product_name: str, major_version: int, country: str, versions: Iterable[str], edition: str
) -> etree._Element:
    ret: etree._Element = E.HostRet(
        E.ProductName(product_name),
        E.MajorVersion(str(major_version)),
        E.MinorVersion("0"),
        E.Country(country),
        *(E.SupportedQBXMLVersion(v) for v in sorted(versions, key=version_key)),
        E.IsAutomaticLogin("false"),
        E.QBFileMode("MultiUser" if edition.casefold().startswith("enterprise") else "SingleUser"),
    )
    return ret


def company_ret(company_name: str, country: str, data_ext: Iterable[etree._Element]) -> etree._Element:
    """``data_ext``: the company's custom field values to show (``DataExtRet``)."""
    ret: etree._Element = E.CompanyRet(
        E.IsSampleCompany("false"),
        E.CompanyName(company_name),
        E.LegalCompanyName(company_name),
        E.Address(E.Addr1("100 Factory Road"), E.City("Springfield"), E.State("IL"),
                  E.PostalCode("62701"), E.Country(country)),
        E.AddressBlock(E.Addr1("100 Factory Road"), E.Addr2("Springfield, IL 62701")),
        E.LegalAddress(E.Addr1("100 Factory Road"), E.City("Springfield"), E.State("IL"),
                       E.PostalCode("62701"), E.Country(country)),
        E.Phone("217-555-0100"),
        E.Email("accounts@example.com"),
        E.FirstMonthFiscalYear("January"),
        E.FirstMonthIncomeTaxYear("January"),
        E.CompanyType("ManufacturingGeneral"),
        E.EIN("12-3456789"),
        E.TaxForm("Form1120"),
        E.AccountantCopy(E.AccountantCopyExists("false")),
    )
    ret.extend(data_ext)
    return ret


def preferences_ret() -> etree._Element:
    """The company's preferences: inventory and estimates on, no multicurrency, no class tracking."""
    false, true = "false", "true"
    ret: etree._Element = E.PreferencesRet(
        E.AccountingPreferences(
            E.IsUsingAccountNumbers(false), E.IsRequiringAccounts(true), E.IsUsingClassTracking(false),
            E.IsUsingAuditTrail(true), E.IsAssigningJournalEntryNumbers(true)),
        E.FinanceChargePreferences(
            E.AnnualInterestRate("0.00"), E.MinFinanceCharge("0.00"), E.GracePeriod("0"),
            E.IsAssessingForOverdueCharges(false), E.CalculateChargesFrom("DueDate"),
            E.IsMarkedToBePrinted(false)),
        E.JobsAndEstimatesPreferences(
            E.IsUsingEstimates(true), E.IsUsingProgressInvoicing(false),
            E.IsPrintingItemsWithZeroAmounts(false)),
        E.MultiCurrencyPreferences(E.IsMultiCurrencyOn(false)),
        E.MultiLocationInventoryPreferences(
            E.IsMultiLocationInventoryAvailable(false), E.IsMultiLocationInventoryEnabled(false)),
        E.PurchasesAndVendorsPreferences(
            E.IsUsingInventory(true), E.DaysBillsAreDue("10"), E.IsAutomaticallyUsingDiscounts(false)),
        E.ReportsPreferences(E.AgingReportBasis("AgeFromDueDate"), E.SummaryReportBasis("Accrual")),
        E.SalesAndCustomersPreferences(
            E.IsTrackingReimbursedExpensesAsIncome(false), E.IsAutoApplyingPayments(true),
            E.PriceLevels(E.IsUsingPriceLevels(true), E.IsRoundingSalesPriceUp(true))),
        E.TimeTrackingPreferences(E.FirstDayOfWeek("Monday")),
        E.CurrentAppAccessRights(E.IsAutomaticLoginAllowed(true), E.IsPersonalDataAccessAllowed(false)),
        E.ItemsAndInventoryPreferences(
            E.EnhancedInventoryReceivingEnabled(false), E.IsTrackingSerialOrLotNumber("None"),
            E.FIFOEnabled(false), E.IsRSBEnabled(false), E.IsBarcodeEnabled(false)),
    )
    return ret
