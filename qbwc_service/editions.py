"""Which QuickBooks companies the service writes to: US editions only (FAQ 5 of the vendor's article; the
qbXML of Canadian and UK editions differs in tax elements the mappings do not build).

Two signs tell a company's edition, and the connection keeps the newest report of each:

- ``client_country``: the country the Web Connector reports with every request for work (the country of the
  QuickBooks it drives);
- ``qb_country``: the country QuickBooks itself reports in its host answer, at the start of every session and
  in the probe's answer.

A company file cannot change edition under a pinned connection, so a newer report of a sign replaces the older
one (a new pairing, after ``connection token`` or ``connection unpin``, learns both again in its first
session). :func:`send_refusal` is the one rule, used when a send is queued and again when it is built inside a
session (after that session's signs are learned): sends are allowed only while no sign names another country
than US. One non-US sign refuses them, and so do two signs that disagree, with a message naming both. No
sign at all (no session yet) allows queueing; the session judges again before anything is sent. Reads
(pulls, the probe) and raw qbXML are not judged here.
"""

from __future__ import annotations

from qbwc_service.db.models import Connection
from qbwc_service.errors import NonUsCompany

US = "US"


def learn_client_country(connection: Connection, country: str | None) -> None:
    """The Web Connector's report, when it made one."""
    connection.client_country = _country(country) or connection.client_country


def learn_host_country(connection: Connection, country: str | None) -> None:
    """QuickBooks' own report (its host answer, or the probe's), when it made one."""
    connection.qb_country = _country(country) or connection.qb_country


def send_refusal(connection: Connection) -> NonUsCompany | None:
    """None when documents may be sent to this company; otherwise the refusal, saying why."""
    client, host = _country(connection.client_country), _country(connection.qb_country)
    if client in (None, US) and host in (None, US):
        return None
    company = connection.company_name or connection.name
    pull_only = ("Only retrieving from QuickBooks is supported for non-US companies, so nothing is sent to it; "
                 "retrieving still works.")
    if client is not None and host is not None and client != host:
        message = (f"QuickBooks company {company!r} may not be a US edition: the Web Connector reports {client} "
                   f"but QuickBooks reports {host}. {pull_only} Check which edition of QuickBooks opens this "
                   "company file.")
    else:
        country = client or host
        who = ("the Web Connector and QuickBooks report" if client and host
               else "the Web Connector reports" if client else "QuickBooks reports")
        message = f"QuickBooks company {company!r} is a {country} edition ({who} {country}). {pull_only}"
    return NonUsCompany(company, client, host, message)


def refuse_sends_to_non_us(connection: Connection) -> None:
    """Raise :class:`NonUsCompany` unless documents may be sent to this company."""
    refusal = send_refusal(connection)
    if refusal is not None:
        raise refusal


def _country(text: str | None) -> str | None:
    return (text or "").strip().upper() or None
