"""`jobs show`: one job, in bounded time and memory whatever its size.

A job's large columns (job_columns.LARGE_COLUMNS: its payload, warnings, request, lookup and response XML) can
hold hundreds of megabytes. They are never loaded whole: the first HEAD_BYTES of each are shown, with a note saying
how many bytes were left out and that --full prints all; --full streams them in chunks of CHUNK_BYTES.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from qbwc_service import job_columns
from qbwc_service.cli._common import out, print_json, write
from qbwc_service.job_columns import Head

HEAD_BYTES = 64 * 1024
CHUNK_BYTES = 4 * 1024 * 1024
JSON_COLUMNS = frozenset({"payload", "warnings"})
"""Large columns holding JSON (shown parsed when whole); the others hold text."""
SECTIONS = {"request_xml": ("request XML", "(not sent yet)"),
            "lookup_xml": ("lookup XML", "(no lookup sent: no earlier outcome was read back)"),
            "response_xml": ("response XML", "(no response)")}
"""The XML columns in the order shown: the job's own request, the last query that read back what an earlier attempt
did (a lost add's lookup, an EditSequence read again), and the last answer."""


def heads(db: Session, job_id: int) -> dict[str, Head]:
    """The first HEAD_BYTES of each large column."""
    return job_columns.heads(db, job_id, HEAD_BYTES)


def show(db: Session, job_id: int, fields: dict[str, Any], *, as_json: bool, full: bool) -> None:
    """Print the job: ``fields`` (its small columns) and its large columns, cut to their first HEAD_BYTES
    unless ``full``."""
    if full:
        (_stream_json if as_json else _stream_text)(db, job_id, fields)
        return
    cut = heads(db, job_id)
    if as_json:
        print_json({**fields, **{column: _value(column, head) for column, head in cut.items()},
                    "cut": {column: {"bytes": head.size, "left_out": head.left_out}
                            for column, head in cut.items() if head.left_out}})
        return
    _print_fields(fields)
    warnings = cut["warnings"]
    write(f"warnings: {_value('warnings', warnings)}\n")
    if warnings.left_out:
        write(_left_out_note(job_id, "warnings", warnings))
    for column, (title, absent) in SECTIONS.items():
        head = cut[column]
        if head.text is None:
            write(f"--- {title}\n{absent}\n")
        elif not head.left_out:
            write(f"--- {title}\n{head.text}\n")
        else:
            write(f"--- {title} ({head.size:,} bytes; the first {head.size - head.left_out:,} shown)\n{head.text}\n")
            write(_left_out_note(job_id, title, head))


PLAIN_FIELDS = ("id", "connection", "kind", "status", "attempts", "priority", "not_before", "status_code",
                "status_message", "result", "ticket", "key", "created_at", "updated_at")


def _print_fields(fields: dict[str, Any]) -> None:
    for key in PLAIN_FIELDS:
        out.print(f"{key}: {fields.get(key)}", markup=False, highlight=False)


def _value(column: str, head: Head) -> Any:
    """A column as JSON shows it: parsed when it holds JSON and is whole; else its text (cut or not)."""
    if head.text is None or column not in JSON_COLUMNS or head.left_out:
        return head.text
    return json.loads(head.text)


def _left_out_note(job_id: int, what: str, head: Head) -> str:
    return (f"--- [{head.left_out:,} bytes of the {what} left out: "
            f"`qbwc-service jobs show {job_id} --full` prints all]\n")


def _stream_text(db: Session, job_id: int, fields: dict[str, Any]) -> None:
    _print_fields(fields)
    _stream_column(db, job_id, "warnings", before="warnings: ", after="\n", absent="warnings: None\n")
    for column, (title, absent) in SECTIONS.items():
        write(f"--- {title}\n")
        _stream_column(db, job_id, column, after="\n", absent=f"{absent}\n")


def _stream_json(db: Session, job_id: int, fields: dict[str, Any]) -> None:
    """The JSON that ``--json`` prints, every column whole, written as it is read (a job's large columns may
    not fit in memory): JSON columns as stored, text columns escaped a chunk at a time."""
    write("{\n")
    for key, value in fields.items():
        write(f"  {json.dumps(key)}: {json.dumps(value, default=str)},\n")
    for column in job_columns.LARGE_COLUMNS:
        write(f"  {json.dumps(column)}: ")
        if column in JSON_COLUMNS:
            _stream_column(db, job_id, column, absent="null")
        else:
            _stream_column(db, job_id, column, escape=_json_string_body, before='"', after='"', absent="null")
        write(",\n")
    write('  "cut": {}\n}\n')


def _json_string_body(text: str) -> str:
    """``text`` escaped as in a JSON string, without the quotes (escaping is per character, so chunks may be
    escaped one by one)."""
    return json.dumps(text)[1:-1]


def _stream_column(db: Session, job_id: int, column: str, *, escape: Callable[[str], str] = str, before: str = "",
                   after: str = "", absent: str) -> None:
    """Write one large column a chunk at a time, between ``before`` and ``after``; ``absent`` alone when NULL."""
    if job_columns.large_column_size(db, job_id, column) is None:
        write(absent)
        return
    write(before)
    for chunk in job_columns.read_large_column(db, job_id, column, CHUNK_BYTES):
        write(escape(chunk))
    write(after)
