"""Production order time records -> QuickBooks time tracking entries (SPEC.md section 2, "Time tracking options").

One ``TimeTrackingAddRq`` per time record: the QuickBooks employee named after the Fusion operator worked
``end - start`` on a customer job, with a service item (and optionally a payroll item), each named after one
of four sources chosen in the options. The customer job is ``Client:Job``, under the QuickBooks customer of
the production order's client (named as the other flows name it); an order without a client has its jobs
under the connection's ``time_customer_parent``, or at the top level. When the employee or the customer job
is missing, the service may create it first (``EmployeeAddRq``, ``CustomerAddRq``); a missing service item
(or client) fails the job (SPEC.md: sends never create items).

QuickBooks Desktop composes an employee's name from its first, middle and last names, separated by single
spaces; :func:`employee_full_name` is that name, and both the ``EmployeeAdd`` and the ``EntityRef`` of every
time entry are derived from it, so that what is created is what is referenced.
"""

from __future__ import annotations

from typing import assert_never

from lxml import etree
from lxml.builder import E

from mappings.common import (
    EXTERNAL_GUID_TXN_SINCE,
    MappingContext,
    Version,
    append_opt,
    append_ref,
    format_bool,
    format_date,
    format_duration,
)
from mappings.errors import MappingError
from mappings.names import customer_full_name, marker_memo
from mappings.options import IntegrationOptions, TimeSource
from qbwc_service.fusion.models import ProductionOrder, TimeRecord, Worker

# qbXML 6.0 (QuickBooks 2007) replaced TimeTrackingAdd/IsBillable by BillableStatus, in the same place.
BILLABLE_STATUS_SINCE: Version = (6, 0)
# Lengths QuickBooks Desktop allows (qbxmlops130.xml): a customer's Name; an employee's composed Name, and
# the FirstName and LastName it is composed of; TimeTrackingAdd/Notes.
CUSTOMER_NAME_MAX = 41
EMPLOYEE_NAME_MAX = 41
EMPLOYEE_FIRST_NAME_MAX = 25
EMPLOYEE_LAST_NAME_MAX = 25
NOTES_MAX = 4095


def time_source_value(order: ProductionOrder, record: TimeRecord, source: TimeSource) -> str:
    """The name one of the four time-tracking sources gives for this time record."""
    match source:
        case "production_order_code":
            return order.code
        case "production_order_description":
            return _present(order.description, "description", order, record, source)
        case "operation_name":
            # An operation without a name is still known by its code.
            return _present(record.operation.name or record.operation.code, "operation.name", order, record, source)
        case "section_name":
            section_name = record.section.name if record.section is not None else None
            return _present(section_name, "section.name", order, record, source)
        case _:
            assert_never(source)


def customer_job_parent(order: ProductionOrder, options: IntegrationOptions) -> str | None:
    """The customer the customer job sits under: the production order's client, named as on every other flow
    (``options.customer_name``); for an order without a client (or with ``time_customer_job_under_client``
    off), ``options.time_customer_parent``; none for a top-level job."""
    if order.client is None or not options.time_customer_job_under_client:
        return options.time_customer_parent
    try:
        return customer_full_name(order.client, options)
    except MappingError as exc:
        raise MappingError(f"production order {order.code}: the customer its jobs sit under: {exc}") from exc


def customer_job_full_name(order: ProductionOrder, record: TimeRecord, options: IntegrationOptions) -> str:
    """The full name of the customer job the time is booked on: ``Parent:Job``, or ``Job`` without a parent."""
    name = _customer_job_name(order, record, options)
    parent = customer_job_parent(order, options)
    return f"{parent}:{name}" if parent else name


def split_employee_name(worker: Worker) -> tuple[str, str | None]:
    """FirstName and LastName of the QuickBooks employee named after a Fusion operator.

    The last word is the last name and the words before it the first name; a single word is a first name
    only. When the first name would be longer than QuickBooks allows, words move to the last name, which
    keeps the composed name (:func:`employee_full_name`) the same.
    """
    words = worker.name.split()
    full_name = " ".join(words)
    if not words:
        raise MappingError(f"worker {worker.id}: worker.name is empty")
    if len(full_name) > EMPLOYEE_NAME_MAX:
        raise MappingError(f"worker {worker.id}: worker.name {full_name!r} is longer than the "
                           f"{EMPLOYEE_NAME_MAX} characters of a QuickBooks employee name")
    if len(words) == 1:
        if len(full_name) > EMPLOYEE_FIRST_NAME_MAX:
            raise MappingError(f"worker {worker.id}: worker.name {full_name!r} is one word longer than the "
                               f"{EMPLOYEE_FIRST_NAME_MAX} characters of a QuickBooks first name")
        return full_name, None
    for cut in range(len(words) - 1, 0, -1):
        first, last = " ".join(words[:cut]), " ".join(words[cut:])
        if len(first) <= EMPLOYEE_FIRST_NAME_MAX and len(last) <= EMPLOYEE_LAST_NAME_MAX:
            return first, last
    raise MappingError(f"worker {worker.id}: worker.name {full_name!r} cannot be split into a first and a last "
                       f"name of at most {EMPLOYEE_FIRST_NAME_MAX} characters each")


def employee_full_name(worker: Worker) -> str:
    """The name QuickBooks shows (and references by) for the employee named after this operator."""
    first, last = split_employee_name(worker)
    return f"{first} {last}" if last else first


def build_time_tracking_add(
    order: ProductionOrder, record: TimeRecord, options: IntegrationOptions, ctx: MappingContext
) -> etree._Element:
    """``TimeTrackingAddRq`` for one time record of a production order."""
    add = E.TimeTrackingAdd(E.TxnDate(format_date(record.start_time)))
    append_ref(add, "EntityRef", employee_full_name(record.worker))
    append_ref(add, "CustomerRef", customer_job_full_name(order, record, options))
    append_ref(add, "ItemServiceRef", time_source_value(order, record, options.time_service_item))
    add.append(E.Duration(format_duration(record.end_time - record.start_time)))
    if options.time_payroll_item is not None:
        append_ref(add, "PayrollItemWageRef", time_source_value(order, record, options.time_payroll_item))
    add.append(E.Notes(marker_memo(record.notes, ctx, NOTES_MAX, "Notes")))
    if ctx.version >= BILLABLE_STATUS_SINCE:
        add.append(E.BillableStatus("Billable" if options.billable else "NotBillable"))
    else:
        add.append(E.IsBillable(format_bool(options.billable)))
    if ctx.version >= EXTERNAL_GUID_TXN_SINCE:
        append_opt(add, "ExternalGUID", ctx.external_guid)
    request: etree._Element = E.TimeTrackingAddRq(add)
    return request


def build_employee_add(worker: Worker) -> etree._Element:
    """``EmployeeAddRq`` for the missing employee named after a Fusion operator.

    QuickBooks Desktop has no ``Name`` on an employee add: it composes the name from FirstName and LastName.
    """
    first, last = split_employee_name(worker)
    add = E.EmployeeAdd(E.FirstName(first))
    append_opt(add, "LastName", last)
    request: etree._Element = E.EmployeeAddRq(add)
    return request


def build_customer_job_add(order: ProductionOrder, record: TimeRecord, options: IntegrationOptions) -> etree._Element:
    """``CustomerAddRq`` for the missing customer job time is booked on, under its parent customer if any (the
    order's client, which must exist: a send never creates it)."""
    add = E.CustomerAdd(E.Name(_customer_job_name(order, record, options)))
    append_ref(add, "ParentRef", customer_job_parent(order, options))
    request: etree._Element = E.CustomerAddRq(add)
    return request


def _customer_job_name(order: ProductionOrder, record: TimeRecord, options: IntegrationOptions) -> str:
    name = time_source_value(order, record, options.time_customer_job)
    where = f"production order {order.code}, time record {record.id}"
    # A colon separates a parent from its job in a full name: the job would be looked up elsewhere.
    if ":" in name:
        raise MappingError(f"{where}: the customer job {name!r} (from {options.time_customer_job}) contains ':', "
                           f"which QuickBooks reads as a parent:job separator")
    # Cutting it would book the time on whichever job shares the first characters.
    if len(name) > CUSTOMER_NAME_MAX:
        raise MappingError(f"{where}: the customer job {name!r} (from {options.time_customer_job}) is longer than "
                           f"the {CUSTOMER_NAME_MAX} characters of a QuickBooks customer name")
    return name


def _present(value: str | None, field: str, order: ProductionOrder, record: TimeRecord, source: TimeSource) -> str:
    if value is None or not value.strip():
        raise MappingError(f"production order {order.code}, time record {record.id}: {field} is missing, "
                           f"and the time-tracking source {source!r} takes the name from it")
    return value.strip()

