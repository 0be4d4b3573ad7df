"""Many jobs in one `enqueue` call: files named on the command line, or JSON lines (a file, or ``-`` for standard
input), each input labelled with where it came from, so that a refusal names the file or the line at fault."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qbwc_service.cli._common import fail
from qbwc_service.db.enums import MAX_INTEGER


@dataclass(frozen=True)
class Input:
    """One job's input: ``value`` (a file's text, or a line's JSON value) and where it came from."""

    origin: str
    value: Any


def file_texts(files: list[Path]) -> list[Input]:
    """Each file's text (UTF-8)."""
    read = []
    for path in files:
        try:
            read.append(Input(str(path), path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"cannot read {path}: {exc}")
    return read


def file_json(files: list[Path]) -> list[Input]:
    """Each file's JSON value."""
    read = []
    for one in file_texts(files):
        try:
            read.append(Input(one.origin, json.loads(one.value)))
        except json.JSONDecodeError as exc:
            fail(f"{one.origin} is not JSON: {exc}")
    return read


def json_lines(source: str) -> list[Input]:
    """One JSON value per line of the file ``source`` names (``-``: standard input); blank lines are skipped."""
    name = "standard input" if source == "-" else source
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {name}: {exc}")
    read = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        origin = f"line {number} of {name}"
        try:
            read.append(Input(origin, json.loads(line)))
        except json.JSONDecodeError as exc:
            fail(f"{origin} is not JSON: {exc}; nothing was queued")
    if not read:
        fail(f"{name} holds no JSON lines; nothing was queued")
    return read


def raw_line(line: Input, priority: int) -> tuple[str, str | None, int]:
    """(request, key, priority) of a JSON line for `enqueue raw`: ``{"request": "<CustomerAddRq>...", "key": ...,
    "priority": ...}`` (key and priority optional), or the request alone as a JSON string."""
    value = line.value
    if isinstance(value, str):
        return value, None, priority
    if not isinstance(value, dict) or not isinstance(value.get("request"), str):
        fail(f"{line.origin}: give an object with \"request\" (a qbXML request element as a string), or the "
             "request as a JSON string; nothing was queued")
    unknown = sorted(set(value) - {"request", "key", "priority"})
    if unknown:
        fail(f"{line.origin}: unknown field {unknown[0]!r} (use request, key, priority); nothing was queued")
    key, chosen = value.get("key"), value.get("priority", priority)
    if key is not None and not isinstance(key, str):
        fail(f"{line.origin}: \"key\" must be a string; nothing was queued")
    if not isinstance(chosen, int) or isinstance(chosen, bool) or abs(chosen) > MAX_INTEGER:
        fail(f"{line.origin}: \"priority\" must be a whole number from -{MAX_INTEGER} to {MAX_INTEGER}; nothing "
             "was queued")
    return value["request"], key, chosen
