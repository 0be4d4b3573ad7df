"""qbXML version numbers: parsing, ordering, and the negotiation between service and company."""

from __future__ import annotations

from collections.abc import Iterable

Version = tuple[int, int]


def parse_version(text: str) -> Version | None:
    """'13.0' -> (13, 0); country-prefixed pre-6.0 forms ('CA3.0') and junk -> None."""
    major, dot, minor = text.strip().partition(".")
    if not dot or not major.isdigit() or not minor.isdigit():
        return None
    return int(major), int(minor)


def format_version(version: Version) -> str:
    return f"{version[0]}.{version[1]}"


def negotiate(ours: Version, supported: Iterable[str], reported: Version | None) -> Version:
    """The highest version both sides speak.

    ``supported`` is HostRet/SupportedQBXMLVersion from strHCPResponse; ``reported`` is
    qbXMLMajorVers.qbXMLMinorVers from sendRequestXML. Either may be missing.
    """
    candidates = [v for v in (parse_version(s) for s in supported) if v is not None]
    ceiling = ours if reported is None else min(ours, reported)
    usable = [v for v in candidates if v <= ceiling]
    if usable:
        return max(usable)
    return ceiling
