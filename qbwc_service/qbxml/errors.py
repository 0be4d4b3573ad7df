"""Errors of the qbXML engine: a tree of their own, since ``qbxml`` imports nothing of the service.

    QbxmlError               building or reading qbXML failed
    ├── MalformedQbxml       text that is not usable qbXML (not XML, DTDs, wrong root)
    ├── UnsupportedVersion   a request that the company's qbXML version cannot express
    └── SchemaUnavailable    (qbwc_service.qbxml.schema) no usable qbXML schema in the configured folder
"""

from __future__ import annotations


class QbxmlError(Exception):
    """Building or reading qbXML failed."""


class MalformedQbxml(QbxmlError):
    pass


class UnsupportedVersion(QbxmlError):
    pass
