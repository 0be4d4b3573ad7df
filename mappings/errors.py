"""Errors of the mappings.

    ValueError
    └── MappingError   a Fusion entity (or the options it is mapped with) that no valid request can express;
                       the message names the field
"""

from __future__ import annotations


class MappingError(ValueError):
    """A Fusion entity cannot be mapped to qbXML; the message names the field and says why."""
