"""The probe: HostQuery + CompanyQuery, read-only, the "test access" round trip through QuickBooks. What it
reads (company, product, country, qbXML versions) is remembered on the connection."""

from __future__ import annotations

from typing import Any

from lxml import etree
from lxml.builder import E

from qbwc_service import editions
from qbwc_service.db.models import Connection, Job
from qbwc_service.kinds.base import BuildContext, Built, Progress, RequestKind, SettleContext, joined
from qbwc_service.kinds.raw import Prepared
from qbwc_service.qbxml.response import Response, host_info_from
from qbwc_service.qbxml.versions import format_version, parse_version
from qbwc_service.settlements import Done, Settlement


class ProbeKind(RequestKind[Progress]):
    name = "probe"

    def reads_only(self, payload: dict[str, Any]) -> bool:
        return True

    def build(self, job: Job, ctx: BuildContext) -> Built:
        return Built([E.HostQueryRq(), E.CompanyQueryRq()])

    def done(self, job: Job, responses: list[Response], ctx: SettleContext) -> Settlement:
        result = probe_result(responses)
        learn(ctx.connection, result)
        first = responses[0]
        return Done(result=result, response_xml=joined(responses), status_code=first.status_code,
                    status_message=first.status_message)


def prepare_probe() -> Prepared:
    return Prepared(ProbeKind.name, {}, read_only=True)


def probe_result(responses: list[Response]) -> dict[str, Any]:
    info = host_info_from(E.Probe(*[etree.fromstring(r.text()) for r in responses]))
    known = [v for v in (parse_version(text) for text in info.supported_versions) if v is not None]
    return {
        "company_name": info.company_name,
        "product": info.product,
        "major_version": info.major_version,
        "country": info.country,
        "supported_versions": info.supported_versions,
        "highest_version": format_version(max(known)) if known else None,
    }


def learn(connection: Connection, result: dict[str, Any]) -> None:
    """What the probe read about the company, kept on the connection."""
    connection.company_name = result.get("company_name") or connection.company_name
    connection.qb_product = result.get("product") or connection.qb_product
    connection.qb_major_version = result.get("major_version") or connection.qb_major_version
    editions.learn_host_country(connection, result.get("country"))
    if result.get("supported_versions"):
        connection.qbxml_versions = result["supported_versions"]


PROBE = ProbeKind()
KINDS = (PROBE,)
