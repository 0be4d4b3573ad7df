"""Reading a big response message set with bounded memory.

A ``*QueryRs`` from a large company file can weigh a hundred megabytes. ``iter_responses`` walks it with
lxml's ``iterparse``: each ``*Rs`` of ``QBXMLMsgsRs`` comes with its header (the start tag's attributes) and
an iterator of its ``*Ret`` children, each handed over complete and cleared as soon as the caller asks for
the next one, so memory stays flat whatever the size of the document.

Reading is lenient (no schema, unexpected elements are skipped) but safe: a DOCTYPE is refused before the
parser sees it (no DTD, so no entity bombs), entities are not resolved and nothing is fetched from the
network. ``huge_tree`` lets through the big text nodes real company files hold.
"""

from __future__ import annotations

import codecs
import io
import re
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from lxml import etree

from qbwc_service.qbxml.errors import MalformedQbxml

_MESSAGE_SET = "QBXMLMsgsRs"
_PROLOG_LIMIT = 1 << 20
_PROLOG_CHUNK = 8192
_DOCTYPE_REFUSED = "XML with a DOCTYPE or ENTITY declaration is refused"
_LEADING_SPACE = re.compile(r"[\ufeff \t\r\n]*")
_DECLARATION = re.compile(r"<\?xml(?:\s[^>]*?)?\?>")
_ENCODING = re.compile(r"""encoding\s*=\s*["']([^"']*)["']""")


@dataclass(frozen=True)
class ResponseHeader:
    """What the start tag of one ``*Rs`` says: the request it answers, its status, its iterator."""

    name: str
    request_id: str | None
    status_code: str = "0"
    status_severity: str = ""
    status_message: str = ""
    ret_count: int | None = None
    iterator_id: str | None = None
    iterator_remaining: int | None = None

    @property
    def ok(self) -> bool:
        return self.status_code == "0"


def iter_responses(
    source: bytes | str | BinaryIO,
) -> Iterator[tuple[ResponseHeader, Iterator[etree._Element]]]:
    """Each ``*Rs`` under QBXMLMsgsRs in document order, with an iterator of its child elements: the
    ``*Ret`` records, and the few direct values some answers carry (``TxnDelRs``'s ``TxnID``, say).

    A child is complete when handed over and valid only until the next one is requested: it is cleared
    then. Rets left unread are skipped when the next ``*Rs`` is requested. Raises ``MalformedQbxml`` for
    text that is not well-formed XML, a DOCTYPE, or a document without QBXMLMsgsRs; a truncated document
    raises it once everything complete before the cut has been handed over.
    """
    reader = _ResponseReader(_guarded(source))
    while (header := reader.next_header()) is not None:
        rets = reader.rets()
        yield header, rets
        rets.close()
        for _ in reader.rets():
            pass


class _ResponseReader:
    """The position of one pass of ``iterparse`` in a message set, and the clearing behind it."""

    def __init__(self, source: _GuardedReader) -> None:
        self._events = etree.iterparse(
            source,
            events=("start", "end"),
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            huge_tree=True,
            remove_comments=True,
            remove_pis=True,
        )
        self._depth = -1  # depth of the innermost open element; the root is at 0
        self._root_tag: str | None = None
        self._message_set_depth: int | None = None
        self._message_set_found = False
        self._response_depth: int | None = None

    def next_header(self) -> ResponseHeader | None:
        """Read on to the start of the next ``*Rs``; None at the end of the document."""
        while (event := self._next()) is not None:
            kind, element, depth = event
            if kind == "end":
                if depth == self._message_set_depth:
                    self._message_set_depth = None
                _discard(element)
            elif self._message_set_depth is None:
                if element.tag == _MESSAGE_SET and depth <= 1:
                    self._message_set_depth = depth
                    self._message_set_found = True
            elif depth == self._message_set_depth + 1 and _is_named(element, "Rs"):
                self._response_depth = depth
                return _header(element)
        if not self._message_set_found:
            raise MalformedQbxml(f"no {_MESSAGE_SET} in the response (root element {self._root_tag!r})")
        return None

    def rets(self) -> Generator[etree._Element, None, None]:
        """The child elements of the open ``*Rs``, each cleared when the next is requested."""
        response_depth = self._response_depth
        keep_child = False
        while response_depth is not None and (event := self._next()) is not None:
            kind, element, depth = event
            if kind == "start":
                if depth == response_depth + 1:
                    keep_child = isinstance(element.tag, str)
            elif depth == response_depth:
                self._response_depth = None
                _discard(element)
                return
            elif depth == response_depth + 1 and keep_child:
                try:
                    yield element
                finally:
                    _discard(element)
            elif not keep_child:
                _discard(element)

    def _next(self) -> tuple[str, etree._Element, int] | None:
        try:
            kind, element = next(self._events)
        except StopIteration:
            return None
        except etree.XMLSyntaxError as exc:
            raise MalformedQbxml(f"not well-formed XML: {exc}") from exc
        if kind == "start":
            self._depth += 1
            if self._depth == 0:
                self._check_root(element)
            return kind, element, self._depth
        self._depth -= 1
        return kind, element, self._depth + 1

    def _check_root(self, root: etree._Element) -> None:
        docinfo = root.getroottree().docinfo
        if docinfo.doctype or docinfo.internalDTD is not None:  # type: ignore[attr-defined]  # lxml-stubs lag
            raise MalformedQbxml(_DOCTYPE_REFUSED)
        self._root_tag = root.tag


def _discard(element: etree._Element) -> None:
    """Free a finished element and the siblings already processed before it."""
    element.clear(keep_tail=False)  # type: ignore[call-arg]  # lxml-stubs lag
    parent = element.getparent()
    if parent is not None:
        while element.getprevious() is not None:
            del parent[0]


def _is_named(element: etree._Element, suffix: str) -> bool:
    return isinstance(element.tag, str) and element.tag.endswith(suffix)


def _header(element: etree._Element) -> ResponseHeader:
    return ResponseHeader(
        name=element.tag,
        request_id=element.get("requestID"),
        status_code=(element.get("statusCode") or "").strip() or "0",
        status_severity=element.get("statusSeverity") or "",
        status_message=element.get("statusMessage") or "",
        ret_count=_count(element.get("retCount")),
        iterator_id=element.get("iteratorID"),
        iterator_remaining=_count(element.get("iteratorRemainingCount")),
    )


def _count(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


def _guarded(source: bytes | str | BinaryIO) -> _GuardedReader:
    if isinstance(source, str):
        return _GuardedReader(_Utf8Reader(source))
    if isinstance(source, bytes):
        return _GuardedReader(io.BytesIO(source))
    return _GuardedReader(source)


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class _Utf8Reader:
    """A str read as UTF-8 bytes a slice at a time, its XML declaration dropped if it names another encoding.

    QuickBooks' text arrives as a Python str from SOAP; its declaration may still say ISO-8859-1.
    """

    def __init__(self, text: str) -> None:
        self._text = text
        self._position = _skip_space(text, 0)
        declaration = _DECLARATION.match(text, self._position)
        if declaration is not None:
            encoding = _ENCODING.search(declaration.group(0))
            if encoding is not None and encoding.group(1).strip().lower() not in ("utf-8", "utf8"):
                self._position = declaration.end()

    def read(self, size: int = -1, /) -> bytes:
        end = len(self._text) if size < 0 else self._position + size
        chunk = self._text[self._position : end]
        self._position += len(chunk)
        try:
            return chunk.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise MalformedQbxml(f"text that cannot be XML: {exc}") from exc


class _GuardedReader:
    """A binary source whose prolog (everything before the root element) is checked for a DOCTYPE first.

    The check is done before the parser sees a byte of the document, so no DTD is ever parsed.
    """

    def __init__(self, source: _Readable) -> None:
        self._source = source
        self._head = _read_prolog(source)

    def read(self, size: int = -1, /) -> bytes:
        if self._head:
            head, self._head = self._head, b""
            return head
        return _read_bytes(self._source, size)


def _read_bytes(source: _Readable, size: int) -> bytes:
    data = source.read(size)
    if not isinstance(data, bytes):
        raise TypeError("a qbXML source must be read in binary mode")
    return data


def _read_prolog(source: _Readable) -> bytes:
    """The first bytes of a source, read until the root element starts; refuses a DOCTYPE before it."""
    head = b""
    while True:
        chunk = _read_bytes(source, _PROLOG_CHUNK)
        head += chunk
        if not chunk or _prolog_complete(_decode_prolog(head)):
            return head
        if len(head) > _PROLOG_LIMIT:
            raise MalformedQbxml(f"more than {_PROLOG_LIMIT} bytes before the root element")


_WIDE_ENCODINGS: tuple[tuple[tuple[bytes, ...], str], ...] = (
    ((b"\x00\x00\xfe\xff", b"\x00\x00\x00<"), "utf-32-be"),
    ((b"\xff\xfe\x00\x00", b"<\x00\x00\x00"), "utf-32-le"),
    ((b"\xfe\xff", b"\x00<"), "utf-16-be"),
    ((b"\xff\xfe", b"<\x00"), "utf-16-le"),
)


def _decode_prolog(head: bytes) -> str:
    """The prolog as text enough to find markup in: ASCII-compatible encodings are read as Latin-1."""
    if head.startswith(b"\x4c\x6f\xa7\x94"):
        raise MalformedQbxml("EBCDIC-encoded XML is not accepted")
    for marks, encoding in _WIDE_ENCODINGS:
        if head.startswith(marks):
            return codecs.getincrementaldecoder(encoding)(errors="replace").decode(head)
    return head.removeprefix(b"\xef\xbb\xbf").decode("latin-1")


def _prolog_complete(text: str) -> bool:
    """Whether ``text`` reaches the root element (or text that is no markup); False while more is needed."""
    position = 0
    while True:
        position = _skip_space(text, position)
        rest = text[position : position + 4]
        if not rest:
            return False
        if not rest.startswith("<"):
            return True
        if rest.startswith("<?"):
            end = text.find("?>", position + 2)
            if end < 0:
                return False
            position = end + 2
        elif rest == "<!--":
            end = text.find("-->", position + 4)
            if end < 0:
                return False
            position = end + 3
        elif len(rest) < 4 and "<!--".startswith(rest):
            return False
        elif rest.startswith("<!"):
            raise MalformedQbxml(_DOCTYPE_REFUSED)
        else:
            return True


def _skip_space(text: str, position: int) -> int:
    match = _LEADING_SPACE.match(text, position)
    return match.end() if match is not None else position
