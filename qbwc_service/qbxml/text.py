"""Text QuickBooks can store: ISO-8859-1 only, and no control characters.

QuickBooks Desktop keeps text in ISO-8859-1 (Latin-1). Characters outside it are turned into
their closest Latin-1 spelling where one exists ("Łódź" -> "Lódz", "–" -> "-", "€" -> "EUR"),
otherwise into "?". Control characters other than tab, line feed and carriage return are dropped:
XML 1.0 forbids most of them and QuickBooks has no use for the rest.
"""

from __future__ import annotations

import re
import unicodedata

REPLACEMENT = "?"

_LATIN1_LAST = 0xFF
_KEPT_CONTROLS = frozenset("\t\n\r")
_STORED_AS_IS = re.compile("[\t\n\r\x20-\x7e\xa0-\xff]*")
"""Text of these characters only (Latin-1 without its control characters, tab, line feed and carriage return kept)
is what QuickBooks stores as it is: NFC leaves it alone, as Latin-1 holds no combining character."""

# Characters without a useful compatibility decomposition, or whose decomposition is not what
# a reader of an invoice expects.
_SPELLINGS: dict[str, str] = {
    "\u2018": "'",  # left single quotation mark
    "\u2019": "'",  # right single quotation mark
    "\u201a": "'",  # single low-9 quotation mark
    "\u201b": "'",  # single high-reversed-9 quotation mark
    "\u2032": "'",  # prime
    "\u201c": '"',  # left double quotation mark
    "\u201d": '"',  # right double quotation mark
    "\u201e": '"',  # double low-9 quotation mark
    "\u201f": '"',  # double high-reversed-9 quotation mark
    "\u2033": '"',  # double prime
    "\u2039": "<",  # single left-pointing angle quotation mark
    "\u203a": ">",  # single right-pointing angle quotation mark
    "\u2010": "-",  # hyphen
    "\u2011": "-",  # non-breaking hyphen
    "\u2012": "-",  # figure dash
    "\u2013": "-",  # en dash
    "\u2014": "-",  # em dash
    "\u2015": "-",  # horizontal bar
    "\u2212": "-",  # minus sign
    "\u2022": "*",  # bullet
    "\u2026": "...",  # horizontal ellipsis
    "\u2044": "/",  # fraction slash
    "\u20ac": "EUR",  # euro sign
    "\u2122": "TM",  # trade mark sign
    "\u0152": "OE",  # latin capital ligature oe
    "\u0153": "oe",  # latin small ligature oe
    "\u0141": "L",  # latin capital letter l with stroke
    "\u0142": "l",  # latin small letter l with stroke
    "\u0110": "D",  # latin capital letter d with stroke
    "\u0111": "d",  # latin small letter d with stroke
    "\u0126": "H",  # latin capital letter h with stroke
    "\u0127": "h",  # latin small letter h with stroke
    "\u0166": "T",  # latin capital letter t with stroke
    "\u0167": "t",  # latin small letter t with stroke
    "\u0131": "i",  # latin small letter dotless i
    "\u0138": "q",  # latin small letter kra
    "\u014a": "N",  # latin capital letter eng
    "\u014b": "n",  # latin small letter eng
    "\u0192": "f",  # latin small letter f with hook
    "\u0259": "e",  # latin small letter schwa
    "\u018f": "E",  # latin capital letter schwa
    "\u200b": "",  # zero width space
    "\u200c": "",  # zero width non-joiner
    "\u200d": "",  # zero width joiner
    "\u2060": "",  # word joiner
    "\ufeff": "",  # zero width no-break space (byte order mark)
    "\u2028": "\n",  # line separator
    "\u2029": "\n",  # paragraph separator
}


def is_latin1_safe(char: str) -> bool:
    """True for a character QuickBooks stores as it is: Latin-1 and not a control character."""
    if ord(char) > _LATIN1_LAST:
        return False
    return char in _KEPT_CONTROLS or unicodedata.category(char) != "Cc"


def outside_latin1(value: str) -> tuple[str, ...]:
    """The characters of ``value`` QuickBooks cannot store (outside ISO-8859-1, or control characters), once
    each, in order."""
    return tuple(dict.fromkeys(c for c in unicodedata.normalize("NFC", value) if not is_latin1_safe(c)))


def unspellable(value: str) -> tuple[str, ...]:
    """The characters of ``value`` without a Latin-1 spelling: those ``to_latin1`` turns into "?"."""
    return tuple(c for c in outside_latin1(value) if ord(c) > _LATIN1_LAST and _spell(c) == REPLACEMENT)


def to_latin1(value: str) -> tuple[str, bool]:
    """The text made ISO-8859-1-safe, and whether that changed it."""
    if _STORED_AS_IS.fullmatch(value):
        return value, False  # the usual text: one scan in C instead of a look at each character
    composed = unicodedata.normalize("NFC", value)
    out: list[str] = []
    for char in composed:
        if is_latin1_safe(char):
            out.append(char)
        elif ord(char) <= _LATIN1_LAST:
            continue  # a control character: dropped
        else:
            out.append(_spell(char))
    result = "".join(out)
    return result, result != value


def _spell(char: str) -> str:
    """The Latin-1 spelling of one character outside Latin-1."""
    if char in _SPELLINGS:
        return _SPELLINGS[char]
    # A compatibility decomposition without its accents: "ź" -> "z", "ﬁ" -> "fi", "²" -> "2".
    parts = [p for p in unicodedata.normalize("NFKD", char) if not unicodedata.combining(p)]
    spelled = [_SPELLINGS.get(p, p) for p in parts]
    if not spelled or not all(all(is_latin1_safe(c) for c in s) for s in spelled):
        return REPLACEMENT
    return "".join(spelled)
