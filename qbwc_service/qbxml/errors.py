"""Errors of the qbXML engine.

    QbxmlError (qbwc_service.errors.QbwcError)
    ├── MalformedQbxml       text that is not usable qbXML (not XML, DTDs, wrong root)
    └── UnsupportedVersion   a request that the company's qbXML version cannot express
"""

from __future__ import annotations

from qbwc_service.errors import QbwcError


class QbxmlError(QbwcError):
    """Building or reading qbXML failed."""


class MalformedQbxml(QbxmlError):
    pass


class UnsupportedVersion(QbxmlError):
    pass
