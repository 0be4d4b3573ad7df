"""A SOAP request body as spyne will read it, decided before spyne reads it: its media type, its one charset,
the body in UTF-8, whether it holds a DTD, and (from its first bytes alone) the call it makes.

spyne decodes a body with the charset its ``Content-Type`` names, and libxml2 with the one its XML
declaration names (or one it guesses from the first bytes): a check of the raw bytes could be walked past
(a DTD written in UTF-7 reached libxml2). Here the charset is decided once, from the byte order mark, the
XML declaration and the ``Content-Type``, which must agree and name UTF-8, UTF-16 or ISO-8859-1. The body is
checked in that charset, and spyne is given UTF-8 that names no other charset: what it parses is what was
checked. In UTF-8 and ISO-8859-1 every ASCII character is its own byte, so a DTD's ``<!DOCTYPE`` is found in
the bytes; a UTF-16 body is decoded first.

Pure: bytes and header values in, values or :class:`BodyRefused` out.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from typing import cast

from lxml import etree

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
XML_MEDIA_TYPES = frozenset({"text/xml", "application/xml", "application/soap+xml"})
SPYNE_CONTENT_TYPE = "text/xml"
"""What spyne is told the body is: no charset, so it hands libxml2 the UTF-8 bytes as they are."""

_UTF8, _LATIN1, _UTF16LE, _UTF16BE = "utf-8", "iso-8859-1", "utf-16-le", "utf-16-be"
_CHARSETS = {
    "utf-8": _UTF8, "utf8": _UTF8,
    "iso-8859-1": _LATIN1, "iso8859-1": _LATIN1, "iso_8859-1": _LATIN1, "latin1": _LATIN1, "latin-1": _LATIN1,
    "utf-16": "utf-16", "utf16": "utf-16", "utf-16le": _UTF16LE, "utf-16be": _UTF16BE,
}
"""The charset names accepted (lower case), and the codec each means ("utf-16": either byte order)."""
ACCEPTED = "UTF-8, UTF-16 or ISO-8859-1"

_DECLARATION = re.compile(r"<\?xml\s[^>]{0,200}?\?>")
_ENCODING = re.compile(r"""\sencoding\s*=\s*(?:"([^"]{0,40})"|'([^']{0,40})')""")
_DTD = re.compile(rb"<!(?i:doctype|entity)")
_HEAD_FOR_CHARSET = 512


@dataclass(frozen=True)
class BodyRefused(Exception):
    """The body is refused before spyne reads it; ``status`` is the HTTP status of the SOAP fault."""

    status: int
    text: str

    def __str__(self) -> str:
        return f"{self.status}: {self.text}"


@dataclass(frozen=True)
class FirstCall:
    """The call a body makes, read from its first bytes: the operation's element (``{namespace}name``, None
    when the first bytes do not reach it) and the operation's first field (its element and text)."""

    operation: str | None
    first_field: str | None = None
    first_text: str | None = None


def media_type(content_type: str | None) -> str:
    """The media type of a ``Content-Type`` value, lower case, without its parameters."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def declared_charset(content_type: str | None) -> str | None:
    """The ``charset`` parameter of a ``Content-Type`` value, lower case, without quotes; None without one."""
    for parameter in (content_type or "").split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip("\"'").strip().lower()
    return None


def decide_codec(content_type: str | None, head: bytes) -> str:
    """The one codec the body is read with, from its byte order mark (or its first bytes), its XML declaration
    and its ``Content-Type``: each present must name UTF-8, UTF-16 or ISO-8859-1, and all the same one."""
    if media_type(content_type) not in XML_MEDIA_TYPES:
        raise BodyRefused(415, "A SOAP message is posted as text/xml; the request was refused.")
    named = [_known(declared_charset(content_type), "the Content-Type")]
    by_bytes = _codec_of_bytes(head)
    text = head.decode(by_bytes or _LATIN1, errors="replace")[:_HEAD_FOR_CHARSET].lstrip("\ufeff")
    declaration = _DECLARATION.match(text)
    if declaration:
        encoding = _ENCODING.search(declaration.group())
        if encoding:
            named.append(_known(encoding.group(1) or encoding.group(2) or "", "the XML declaration"))
    stated = {codec for codec in named if codec is not None}
    if by_bytes is not None:
        stated = {by_bytes if codec == "utf-16" and by_bytes in (_UTF16LE, _UTF16BE) else codec for codec in stated}
        stated.add(by_bytes)
    elif stated & {"utf-16", _UTF16LE, _UTF16BE}:
        raise BodyRefused(400, "The request names UTF-16, but its first bytes are not UTF-16; it was refused.")
    if len(stated) > 1:
        raise BodyRefused(400, "The request names two different charsets; it was refused.")
    return stated.pop() if stated else _UTF8


def _known(name: str | None, where: str) -> str | None:
    if name is None:
        return None
    codec = _CHARSETS.get(name.strip().lower())
    if codec is None:
        raise BodyRefused(400, f"The charset {name[:40]!r} in {where} is not accepted: send {ACCEPTED}.")
    return codec


def _codec_of_bytes(head: bytes) -> str | None:
    """The codec the first bytes show (a byte order mark, or UTF-16's zero bytes), None when they show none."""
    if head.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")) or head[:2] == b"\x00\x00":
        raise BodyRefused(400, f"UTF-32 is not accepted: send {ACCEPTED}.")
    if head.startswith(codecs.BOM_UTF8):
        return _UTF8
    if head.startswith(codecs.BOM_UTF16_LE):
        return _UTF16LE
    if head.startswith(codecs.BOM_UTF16_BE):
        return _UTF16BE
    if len(head) >= 2 and head[1] == 0 and head[0] != 0:
        return _UTF16LE
    if len(head) >= 2 and head[0] == 0 and head[1] != 0:
        return _UTF16BE
    return None


def to_utf8(body: bytes, codec: str) -> bytes:
    """The body in UTF-8, naming no other charset (a UTF-16 or ISO-8859-1 body loses its XML declaration and
    byte order mark; a UTF-8 body is given back as it is)."""
    if codec == _UTF8:
        return body
    try:
        text = body.decode(codec)
    except UnicodeDecodeError as exc:
        raise BodyRefused(400, f"The request is not valid {codec.upper()}; it was refused.") from exc
    text = text.removeprefix("\ufeff")
    declaration = _DECLARATION.match(text)
    if declaration:
        text = text[declaration.end():]
    return text.encode("utf-8")


def check_utf8_body(body: bytes) -> None:
    """Refuses a UTF-8 body libxml2 would not read as UTF-8 and ASCII (a zero byte: UTF-16 or UTF-32 to its
    guess; a first character that is not ``<``: EBCDIC), or that holds a DTD (entities: the billion laughs,
    external files)."""
    start = body.removeprefix(codecs.BOM_UTF8).lstrip(b" \t\r\n")
    if not start.startswith(b"<") or b"\x00" in body[:4096]:
        raise BodyRefused(400, "The request is not an XML document in UTF-8, UTF-16 or ISO-8859-1; it was "
                               "refused.")
    if _DTD.search(body):
        raise BodyRefused(400, "A SOAP message must not contain a DTD; the request was refused.")


def readable_body(body: bytes, content_type: str | None) -> bytes:
    """The body as spyne is given it (UTF-8, no DTD), or :class:`BodyRefused`."""
    utf8 = to_utf8(body, decide_codec(content_type, body[:_HEAD_FOR_CHARSET * 4]))
    check_utf8_body(utf8)
    return utf8


def first_call(head: bytes, content_type: str | None) -> FirstCall:
    """The call a body makes, from its first bytes only (the rest may not have arrived): its Body's first
    element, and that element's first field when the first bytes hold it whole."""
    codec = decide_codec(content_type, head)
    decoder = codecs.getincrementaldecoder(codec)()
    try:
        utf8 = head if codec == _UTF8 else _without_declaration(decoder.decode(head, final=False)).encode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyRefused(400, f"The request is not valid {codec.upper()}; it was refused.") from exc
    check_utf8_body(utf8)
    parser = etree.XMLPullParser(events=("start", "end"), resolve_entities=False, no_network=True,
                                 load_dtd=False)
    path: list[str] = []  # the tags from the root to the element being read
    operation: str | None = None
    field: str | None = None
    try:
        parser.feed(utf8)
        for event, node in parser.read_events():
            tag = str(cast(etree._Element, node).tag)
            if event == "start":
                path.append(tag)
                if len(path) == 1 and tag != f"{{{SOAP_ENV}}}Envelope":
                    raise BodyRefused(400, "The request is not a SOAP 1.1 envelope; it was refused.")
                if len(path) == 3 and operation is None and path[1] == f"{{{SOAP_ENV}}}Body":
                    operation = tag
                elif len(path) == 4 and operation is not None and field is None:
                    field = tag
                continue
            if len(path) == 4 and field is not None and tag == field:
                return FirstCall(operation, field, cast(etree._Element, node).text or "")
            path.pop()
    except etree.XMLSyntaxError as exc:
        raise BodyRefused(400, "The request is not well-formed XML; it was refused.") from exc
    return FirstCall(operation, field)


def _without_declaration(text: str) -> str:
    text = text.removeprefix("\ufeff")
    declaration = _DECLARATION.match(text)
    return text[declaration.end():] if declaration else text
