"""Exceptions raised by qbwc-service.

The tree::

    QbwcError                      anything this service raises on purpose
    ├── SettingsError              the settings file or environment is invalid
    ├── NotFound                   a connection, job or session that does not exist
    │   ├── ConnectionNotFound
    │   └── JobNotFound
    ├── InvalidInput               input refused before anything changed
    │   ├── InvalidJobPayload      a job's payload (raw qbXML, entity JSON) is not acceptable
    │   └── InvalidName            a connection name that cannot be used
    └── Conflict                   the request clashes with the current state
        ├── ConnectionExists
        └── JobStateConflict       e.g. retrying a job that is already done

Not in this tree: ``qbwc_service.qbxml.errors.QbxmlError`` (building or reading qbXML), the root of the qbXML
engine's own tree because ``qbxml`` imports nothing of the service, and ``mappings.errors.MappingError`` (a
``ValueError``). An edge that turns errors into answers (the CLI's one-line failure) catches ``QbxmlError``
beside ``QbwcError``.

A qbXML error *status* returned by QuickBooks is data stored on the job, not an exception.
"""

from __future__ import annotations


class QbwcError(Exception):
    """Base of every error this service raises on purpose."""


class SettingsError(QbwcError):
    """The settings file or the QBWC_* environment holds an invalid value."""


class NotFound(QbwcError):
    """Something named by the caller does not exist."""


class ConnectionNotFound(NotFound):
    pass


class JobNotFound(NotFound):
    pass


class InvalidInput(QbwcError):
    """Input refused before anything changed."""


class InvalidJobPayload(InvalidInput):
    pass


class InvalidName(InvalidInput):
    pass


class Conflict(QbwcError):
    """The request clashes with the current state."""


class ConnectionExists(Conflict):
    pass


class JobStateConflict(Conflict):
    pass
