"""Errors of the qbXML engine: a tree of their own, since ``qbxml`` imports nothing of the service.

    QbxmlError               building or reading qbXML failed
    ├── MalformedQbxml       text that is not usable qbXML (not XML, DTDs, wrong root)
    ├── UnsupportedVersion   a request that the company's qbXML version cannot express
    └── SchemaUnavailable    a folder meant to hold Intuit's qbXML schema holds no usable one
"""

from __future__ import annotations


class QbxmlError(Exception):
    """Building or reading qbXML failed."""


class MalformedQbxml(QbxmlError):
    pass


class UnsupportedVersion(QbxmlError):
    pass


class SchemaUnavailable(QbxmlError):
    """The qbXML schema folder (the packaged one, or ``qbxml_schema_dir``) holds no usable schema."""
