"""Errors of the qbXML engine: a tree of their own, since ``qbxml`` imports nothing of the service.

    QbxmlError               building or reading qbXML failed
    ├── MalformedQbxml       text that is not usable qbXML (not XML, DTDs, wrong root)
    ├── UnsupportedVersion   a request that the company's qbXML version cannot express
    ├── ValueTooLong         a request whose references or names QuickBooks could not store whole (.values)
    ├── NotWritable          a request whose references or names QuickBooks could not store as asked (.values)
    └── SchemaUnavailable    a folder meant to hold Intuit's qbXML schema holds no usable one
"""

from __future__ import annotations

from dataclasses import dataclass


class QbxmlError(Exception):
    """Building or reading qbXML failed."""


class MalformedQbxml(QbxmlError):
    pass


class UnsupportedVersion(QbxmlError):
    pass


@dataclass(frozen=True)
class TooLong:
    """One value of a request longer than QuickBooks allows for its field.

    ``part`` is the level of a ``Parent:Child`` full name that is too long (each level has its own maximum),
    or None when the whole value is.
    """

    path: str
    value: str
    limit: int
    part: str | None = None

    def describe(self) -> str:
        if self.part is not None:
            return (f"{self.path} {self.value!r}: the name level {self.part!r} has {len(self.part)} characters, "
                    f"QuickBooks allows {self.limit} per level")
        return f"{self.path} {self.value!r} has {len(self.value)} characters, QuickBooks allows {self.limit}"


class ValueTooLong(QbxmlError):
    """Values that identify something (a document number, a reference, a list entry's name) or are data rather
    than free text, longer than QuickBooks allows: cutting them would name another record or store a wrong one,
    so the request is not sent."""

    def __init__(self, values: tuple[TooLong, ...]) -> None:
        self.values = values
        super().__init__("Not sent: only free text (memos, descriptions, notes, address lines) is ever shortened to "
                         "fit, and these values are longer than QuickBooks allows: "
                         + "; ".join(value.describe() for value in values))


@dataclass(frozen=True)
class Unwritable:
    """One value that is not free text, holding characters QuickBooks' character set (ISO-8859-1) lacks."""

    path: str
    value: str
    characters: tuple[str, ...]  # the characters QuickBooks cannot store
    respelled: str | None = None  # what transliteration would make of it, when every character has a spelling

    def describe(self) -> str:
        shown = ", ".join(f"{c!r} (U+{ord(c):04X})" for c in self.characters[:5])
        more = " ..." if len(self.characters) > 5 else ""
        return f"{self.path} {self.value!r} holds {shown}{more}"


class NotWritable(QbxmlError):
    """Values that identify something (a list entry's name, a reference, a document number) with characters
    QuickBooks cannot store: replaced, they would name another record (two Chinese names both become "????"),
    so the request is not sent."""

    def __init__(self, values: tuple[Unwritable, ...]) -> None:
        self.values = values
        super().__init__("Not sent: QuickBooks stores ISO-8859-1 (Latin-1) text only, and these names or references "
                         "hold characters it cannot store, which would make them name another record: "
                         + "; ".join(value.describe() for value in values)
                         + ". Use a Latin-1 spelling in Fusion (or, for names with accented letters such as 'Łódź', "
                           "the option transliterate_names).")


class SchemaUnavailable(QbxmlError):
    """The qbXML schema folder (the packaged one, or ``qbxml_schema_dir``) holds no usable schema."""
