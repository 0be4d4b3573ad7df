"""Element order of the QuickBooks answers the simulated company gives, taken from the qbXML 13.0 schema.

Part of the simulated QuickBooks Desktop company (a test double, see ``quickbooks.py``). qbXML is an
``xs:sequence`` language: an answer validates only when its children come in schema order. The simulated
company builds each ``*Ret`` from what the request sent plus what QuickBooks computes, then sorts the
children with these tables and leaves out anything the ``*Ret`` does not carry (``OpenBalance``,
``InventoryDate``, ...), so its answers validate against ``qbxmlops130.xsd`` by construction.
"""

from __future__ import annotations

from dataclasses import dataclass


def _names(text: str) -> tuple[str, ...]:
    return tuple(text.split())


RET_ORDER: dict[str, tuple[str, ...]] = {
    "CustomerRet": _names(
        "ListID TimeCreated TimeModified EditSequence Name FullName IsActive ClassRef ParentRef "
        "Sublevel CompanyName Salutation FirstName MiddleName LastName Suffix JobTitle BillAddress "
        "BillAddressBlock ShipAddress ShipAddressBlock ShipToAddress PrintAs Phone Mobile Pager "
        "AltPhone Fax Email Cc Contact AltContact AdditionalContactRef ContactsRet CustomerTypeRef "
        "TermsRef SalesRepRef Balance TotalBalance SalesTaxCodeRef ItemSalesTaxRef SalesTaxCountry "
        "ResaleNumber AccountNumber CreditLimit PreferredPaymentMethodRef CreditCardInfo JobStatus "
        "JobStartDate JobProjectedEndDate JobEndDate JobDesc JobTypeRef Notes AdditionalNotesRet "
        "IsStatementWithParent DeliveryMethod PreferredDeliveryMethod PriceLevelRef ExternalGUID "
        "TaxRegistrationNumber CurrencyRef DataExtRet"
    ),
    "VendorRet": _names(
        "ListID TimeCreated TimeModified EditSequence Name IsActive ClassRef IsTaxAgency CompanyName "
        "Salutation FirstName MiddleName LastName Suffix JobTitle VendorAddress VendorAddressBlock "
        "ShipAddress Phone Mobile Pager AltPhone Fax Email Cc Contact AltContact "
        "AdditionalContactRef ContactsRet NameOnCheck AccountNumber Notes AdditionalNotesRet "
        "VendorTypeRef TermsRef CreditLimit VendorTaxIdent IsVendorEligibleFor1099 Balance "
        "BillingRateRef ExternalGUID SalesTaxCodeRef SalesTaxCountry IsSalesTaxAgency "
        "SalesTaxReturnRef TaxRegistrationNumber ReportingPeriod IsTaxTrackedOnPurchases "
        "TaxOnPurchasesAccountRef IsTaxTrackedOnSales TaxOnSalesAccountRef IsTaxOnTax "
        "PrefillAccountRef CurrencyRef DataExtRet"
    ),
    "EmployeeRet": _names(
        "ListID TimeCreated TimeModified EditSequence Name IsActive Salutation FirstName MiddleName "
        "LastName Suffix JobTitle SupervisorRef Department Description TargetBonus EmployeeAddress "
        "PrintAs Phone Mobile Pager PagerPIN AltPhone Fax SSN Email AdditionalContactRef "
        "EmergencyContacts EmployeeType PartOrFullTime Exempt KeyEmployee Gender HiredDate "
        "OriginalHireDate AdjustedServiceDate ReleasedDate BirthDate USCitizen Ethnicity Disabled "
        "DisabilityDesc OnFile WorkAuthExpireDate USVeteran MilitaryStatus AccountNumber Notes "
        "AdditionalNotesRet BillingRateRef EmployeePayrollInfo ExternalGUID DataExtRet"
    ),
    "AccountRet": _names(
        "ListID TimeCreated TimeModified EditSequence Name FullName IsActive ParentRef Sublevel "
        "AccountType DetailAccountType SpecialAccountType IsTaxAccount AccountNumber BankNumber "
        "LastCheckNumber Desc Balance TotalBalance SalesTaxCodeRef TaxLineInfoRet "
        "CashFlowClassification CurrencyRef DataExtRet"
    ),
    "ItemServiceRet": _names(
        "ListID TimeCreated TimeModified EditSequence Name FullName BarCodeValue IsActive ClassRef "
        "ParentRef Sublevel UnitOfMeasureSetRef IsTaxIncluded SalesTaxCodeRef SalesOrPurchase "
        "SalesAndPurchase ExternalGUID DataExtRet"
    ),
    "ItemNonInventoryRet": _names(
        "ListID TimeCreated TimeModified EditSequence Name FullName BarCodeValue IsActive ClassRef "
        "ParentRef Sublevel ManufacturerPartNumber UnitOfMeasureSetRef IsTaxIncluded SalesTaxCodeRef "
        "SalesOrPurchase SalesAndPurchase ExternalGUID DataExtRet"
    ),
    "ItemInventoryRet": _names(
        "ListID TimeCreated TimeModified EditSequence Name FullName BarCodeValue IsActive ClassRef "
        "ParentRef Sublevel ManufacturerPartNumber UnitOfMeasureSetRef IsTaxIncluded SalesTaxCodeRef "
        "SalesDesc SalesPrice IncomeAccountRef PurchaseDesc PurchaseCost PurchaseTaxCodeRef "
        "COGSAccountRef PrefVendorRef AssetAccountRef ReorderPoint Max QuantityOnHand AverageCost "
        "QuantityOnOrder QuantityOnSalesOrder ExternalGUID DataExtRet"
    ),
    "SalesOrderRet": _names(
        "TxnID TimeCreated TimeModified EditSequence TxnNumber CustomerRef ClassRef TemplateRef "
        "TxnDate RefNumber BillAddress BillAddressBlock ShipAddress ShipAddressBlock PONumber "
        "TermsRef DueDate SalesRepRef FOB ShipDate ShipMethodRef Subtotal ItemSalesTaxRef "
        "SalesTaxPercentage SalesTaxTotal TotalAmount CurrencyRef ExchangeRate "
        "TotalAmountInHomeCurrency IsManuallyClosed IsFullyInvoiced Memo CustomerMsgRef "
        "IsToBePrinted IsToBeEmailed IsTaxIncluded CustomerSalesTaxCodeRef Other ExternalGUID "
        "LinkedTxn SalesOrderLineRet SalesOrderLineGroupRet DataExtRet"
    ),
    "SalesOrderLineRet": _names(
        "TxnLineID ItemRef Desc Quantity UnitOfMeasure OverrideUOMSetRef Rate RatePercent ClassRef "
        "Amount TaxAmount InventorySiteRef InventorySiteLocationRef SerialNumber LotNumber "
        "SalesTaxCodeRef Invoiced IsManuallyClosed Other1 Other2 DataExtRet"
    ),
    "EstimateRet": _names(
        "TxnID TimeCreated TimeModified EditSequence TxnNumber CustomerRef ClassRef TemplateRef "
        "TxnDate RefNumber BillAddress BillAddressBlock ShipAddress ShipAddressBlock IsActive "
        "PONumber TermsRef DueDate SalesRepRef FOB Subtotal ItemSalesTaxRef SalesTaxPercentage "
        "SalesTaxTotal TotalAmount CurrencyRef ExchangeRate TotalAmountInHomeCurrency Memo "
        "CustomerMsgRef IsToBeEmailed IsTaxIncluded CustomerSalesTaxCodeRef Other ExternalGUID "
        "LinkedTxn EstimateLineRet EstimateLineGroupRet DataExtRet"
    ),
    "EstimateLineRet": _names(
        "TxnLineID ItemRef Desc Quantity UnitOfMeasure OverrideUOMSetRef Rate RatePercent ClassRef "
        "Amount TaxAmount InventorySiteRef InventorySiteLocationRef SalesTaxCodeRef MarkupRate "
        "MarkupRatePercent Other1 Other2 DataExtRet"
    ),
    "PurchaseOrderRet": _names(
        "TxnID TimeCreated TimeModified EditSequence TxnNumber VendorRef ClassRef InventorySiteRef "
        "ShipToEntityRef TemplateRef TxnDate RefNumber VendorAddress VendorAddressBlock ShipAddress "
        "ShipAddressBlock TermsRef DueDate ExpectedDate ShipMethodRef FOB TotalAmount CurrencyRef "
        "ExchangeRate TotalAmountInHomeCurrency IsManuallyClosed IsFullyReceived Memo VendorMsg "
        "IsToBePrinted IsToBeEmailed IsTaxIncluded SalesTaxCodeRef Other1 Other2 ExternalGUID "
        "LinkedTxn PurchaseOrderLineRet PurchaseOrderLineGroupRet DataExtRet"
    ),
    "PurchaseOrderLineRet": _names(
        "TxnLineID ItemRef ManufacturerPartNumber Desc Quantity UnitOfMeasure OverrideUOMSetRef Rate "
        "ClassRef Amount TaxAmount InventorySiteLocationRef CustomerRef ServiceDate SalesTaxCodeRef "
        "ReceivedQuantity UnbilledQuantity IsBilled IsManuallyClosed Other1 Other2 DataExtRet"
    ),
    "InvoiceRet": _names(
        "TxnID TimeCreated TimeModified EditSequence TxnNumber CustomerRef ClassRef ARAccountRef "
        "TemplateRef TxnDate RefNumber BillAddress BillAddressBlock ShipAddress ShipAddressBlock "
        "IsPending IsFinanceCharge PONumber TermsRef DueDate SalesRepRef FOB ShipDate ShipMethodRef "
        "Subtotal ItemSalesTaxRef SalesTaxPercentage SalesTaxTotal AppliedAmount BalanceRemaining "
        "CurrencyRef ExchangeRate BalanceRemainingInHomeCurrency Memo IsPaid CustomerMsgRef "
        "IsToBePrinted IsToBeEmailed IsTaxIncluded CustomerSalesTaxCodeRef SuggestedDiscountAmount "
        "SuggestedDiscountDate Other ExternalGUID LinkedTxn InvoiceLineRet InvoiceLineGroupRet "
        "DiscountLineRet SalesTaxLineRet ShippingLineRet DataExtRet"
    ),
    "InvoiceLineRet": _names(
        "TxnLineID ItemRef Desc Quantity UnitOfMeasure OverrideUOMSetRef Rate RatePercent ClassRef "
        "Amount TaxAmount InventorySiteRef InventorySiteLocationRef SerialNumber LotNumber "
        "ServiceDate SalesTaxCodeRef IsTaxable Other1 Other2 DataExtRet"
    ),
    "BillRet": _names(
        "TxnID TimeCreated TimeModified EditSequence TxnNumber VendorRef VendorAddress APAccountRef "
        "TxnDate DueDate AmountDue CurrencyRef ExchangeRate AmountDueInHomeCurrency RefNumber "
        "TermsRef Memo IsTaxIncluded SalesTaxCodeRef IsPaid ExternalGUID LinkedTxn ExpenseLineRet "
        "ItemLineRet ItemGroupLineRet OpenAmount DataExtRet"
    ),
    "ExpenseLineRet": _names(
        "TxnLineID AccountRef Amount TaxAmount Memo CustomerRef ClassRef SalesTaxCodeRef "
        "BillableStatus SalesRepRef DataExtRet"
    ),
    "ItemLineRet": _names(
        "TxnLineID ItemRef InventorySiteRef InventorySiteLocationRef SerialNumber LotNumber Desc "
        "Quantity UnitOfMeasure OverrideUOMSetRef Cost Amount TaxAmount CustomerRef ClassRef "
        "SalesTaxCodeRef BillableStatus SalesRepRef DataExtRet"
    ),
    "TimeTrackingRet": _names(
        "TxnID TimeCreated TimeModified EditSequence TxnNumber TxnDate EntityRef CustomerRef "
        "ItemServiceRef Rate Duration ClassRef PayrollItemWageRef Notes BillableStatus ExternalGUID"
    ),
    "InventoryAdjustmentRet": _names(
        "TxnID TimeCreated TimeModified EditSequence TxnNumber AccountRef InventorySiteRef TxnDate "
        "RefNumber CustomerRef ClassRef Memo ExternalGUID InventoryAdjustmentLineRet DataExtRet"
    ),
    "InventoryAdjustmentLineRet": _names(
        "TxnLineID ItemRef SerialNumber SerialNumberAddedOrRemoved LotNumber "
        "InventorySiteLocationRef QuantityDifference ValueDifference"
    ),
    "PayrollItemWageRet": _names(
        "ListID TimeCreated TimeModified EditSequence Name IsActive WageType ExpenseAccountRef"
    ),
    # Aggregates inside item Rets, which a Mod changes field by field.
    "SalesOrPurchase": _names("Desc Price PricePercent AccountRef"),
    "SalesAndPurchase": _names(
        "SalesDesc SalesPrice IncomeAccountRef PurchaseDesc PurchaseCost PurchaseTaxCodeRef ExpenseAccountRef "
        "PrefVendorRef"
    ),
    "LinkedTxn": _names("TxnID TxnType TxnDate RefNumber LinkType Amount TxnLineDetail"),
}


@dataclass(frozen=True)
class Shape:
    """What the simulated company knows about one kind of QuickBooks object."""

    kind: str
    is_transaction: bool
    lines: tuple[tuple[str, str], ...] = ()
    """(line element in the Add, line element in the Ret) pairs."""
    name_max_length: int = 0
    ref_number_max_length: int = 0
    auto_ref_number: bool = False

    @property
    def ret_tag(self) -> str:
        return f"{self.kind}Ret"


LIST_SHAPES: tuple[Shape, ...] = (
    Shape("Account", False, name_max_length=31),
    Shape("Customer", False, name_max_length=41),
    Shape("Vendor", False, name_max_length=41),
    Shape("Employee", False),
    Shape("ItemService", False, name_max_length=31),
    Shape("ItemNonInventory", False, name_max_length=31),
    Shape("ItemInventory", False, name_max_length=31),
    Shape("PayrollItemWage", False, name_max_length=31),
)

TXN_SHAPES: tuple[Shape, ...] = (
    Shape("SalesOrder", True, (("SalesOrderLineAdd", "SalesOrderLineRet"),),
          ref_number_max_length=11, auto_ref_number=True),
    Shape("Estimate", True, (("EstimateLineAdd", "EstimateLineRet"),),
          ref_number_max_length=11, auto_ref_number=True),
    Shape("PurchaseOrder", True, (("PurchaseOrderLineAdd", "PurchaseOrderLineRet"),),
          ref_number_max_length=11, auto_ref_number=True),
    Shape("Invoice", True, (("InvoiceLineAdd", "InvoiceLineRet"),),
          ref_number_max_length=11, auto_ref_number=True),
    # A bill's Ref. No. is the vendor's invoice number: QuickBooks leaves it blank when none is given.
    Shape("Bill", True, (("ExpenseLineAdd", "ExpenseLineRet"), ("ItemLineAdd", "ItemLineRet")),
          ref_number_max_length=20),
    # TimeTrackingRet has no RefNumber at all.
    Shape("TimeTracking", True),
    Shape("InventoryAdjustment", True,
          (("InventoryAdjustmentLineAdd", "InventoryAdjustmentLineRet"),),
          ref_number_max_length=11, auto_ref_number=True),
)

SHAPES: dict[str, Shape] = {shape.kind: shape for shape in LIST_SHAPES + TXN_SHAPES}

ITEM_KINDS: tuple[str, ...] = ("ItemService", "ItemNonInventory", "ItemInventory")
ENTITY_KINDS: tuple[str, ...] = ("Customer", "Vendor", "Employee")
"""Customers (and their jobs), vendors and employees share one name space in QuickBooks."""

KIND_FAMILIES: dict[str, tuple[str, ...]] = {"Item": ITEM_KINDS, "Entity": ENTITY_KINDS}
"""Aggregate kinds accepted by queries (``ItemQueryRq``) and by the inspection methods."""

REQUIRED_IN_ADD: dict[str, tuple[str, ...]] = {
    "Account": ("Name", "AccountType"),
    "Customer": ("Name",),
    "Vendor": ("Name",),
    "Employee": (),
    "ItemService": ("Name",),
    "ItemNonInventory": ("Name",),
    "ItemInventory": ("Name",),
    "SalesOrder": ("CustomerRef",),
    "Estimate": ("CustomerRef",),
    "PurchaseOrder": (),
    "Invoice": ("CustomerRef",),
    "Bill": ("VendorRef",),
    "TimeTracking": ("EntityRef", "Duration"),
    "InventoryAdjustment": ("AccountRef", "InventoryAdjustmentLineAdd"),
    "PayrollItemWage": ("Name", "WageType", "ExpenseAccountRef"),
}
"""Elements the schema requires in each ``*Add``; QuickBooks rejects the whole message set without them."""

QUERYABLE_KINDS: tuple[str, ...] = (
    "Customer", "Vendor", "Employee", "Entity", "Account", "Item", *ITEM_KINDS, "PayrollItemWage",
    "SalesOrder", "Estimate", "PurchaseOrder", "Invoice", "Bill", "TimeTracking", "InventoryAdjustment",
)
WITHOUT_ITERATOR: frozenset[str] = frozenset({"Employee", "PayrollItemWage"})
"""Queries whose request type has no ``iterator`` attribute in the schema (``EmployeeQueryRq``)."""

MODIFIABLE_KINDS: tuple[str, ...] = (
    "Account", "Customer", "Vendor", "Employee", *ITEM_KINDS,
    "SalesOrder", "Estimate", "PurchaseOrder", "Invoice", "Bill", "TimeTracking",
)
"""Kinds with a ``*ModRq`` the simulated company executes (EditSequence checked, see ``_qb_mods``)."""

DELETABLE_KINDS: tuple[str, ...] = (
    "SalesOrder", "Estimate", "PurchaseOrder", "Invoice", "Bill", "TimeTracking", "InventoryAdjustment",
)
"""``TxnDelType`` values the simulated company deletes (``TxnDelRq``) and reports (``TxnDeletedQueryRq``)."""

LIST_DATA_EXT_KINDS: dict[str, tuple[str, ...]] = {
    "Account": ("Account",), "Customer": ("Customer",), "Vendor": ("Vendor",), "Employee": ("Employee",),
    "Item": ITEM_KINDS,
}
"""``ListDataExtType`` values (custom fields on list elements) and the kinds each may name."""

TXN_DATA_EXT_KINDS: tuple[str, ...] = (
    "SalesOrder", "Estimate", "PurchaseOrder", "Invoice", "Bill", "InventoryAdjustment",
)
"""``TxnDataExtType`` values the simulated company stores custom fields on."""

MIN_VERSIONS: dict[str, tuple[int, int]] = {
    "IncludeRetElement": (4, 0),
    "@metaData": (4, 0),
    "@iterator": (5, 0),
    "ExternalGUID/list": (8, 0),
    "ExternalGUID/transaction": (9, 0),
}
"""The qbXML version that brought an element or attribute: an older message set that uses it fails QuickBooks'
schema check as a whole (from the ``<!-- vX.Y -->`` notes of the annotated qbxmlops130.xml)."""
