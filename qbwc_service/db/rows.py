"""The records of a Web Connector call (its session, its connection, its jobs), read and written as rows, without
the ORM's unit of work.

A SOAP call reads its session and connection, claims or settles up to a message set of jobs, and writes them back.
Through the ORM each object cost an identity-map entry, a load and, at every flush, the unit of work's bookkeeping:
more than the statements themselves. Here they are read with Core statements and made into mapped objects that the
session does not hold; the code that reads and changes them is the same (the job kinds, the queue, the protocol).
What changed is written back as UPDATEs of the changed columns, one executemany per table and set of columns,
whenever the session is about to read or to commit:

- before any statement the session runs (``do_orm_execute``), so that a query sees the records as changed so far, as
  the ORM's autoflush would; and before the Core statements of this path (:func:`write`, called by them);
- before a commit, a savepoint's release included (``before_commit``);
- when :func:`savepoint` enters, whose rollback puts the records back as they were when it began (a savepoint
  around changes to row records is this one, never a bare ``begin_nested``).

A transaction that rolls back forgets the session's records, so that their changes are never written later.

A column this path does not read (a job's last request, lookup and answer, its warnings) holds :data:`NOT_LOADED`
until set, which refuses to be used as a value, and is written only when set. A record is read once per call: the
ORM must not load a second copy of one in the same transaction (nothing on this path does).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Table, bindparam, event, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import instance_state
from sqlalchemy.orm.instrumentation import manager_of_class

from qbwc_service.db.models import Base

M = TypeVar("M", bound=Base)
_KEY = "qbwc_rows"
"""The key in ``Session.info`` of the session's :class:`_Rows`."""


class _NotLoaded:
    """A column that this path did not read: any use of it as a value is a mistake, and fails loudly."""

    def __repr__(self) -> str:
        return "<not loaded>"

    def _refuse(self, *_args: object, **_kwargs: object) -> Any:
        raise RuntimeError("a column that a Web Connector call does not read was used (db/rows.py): read the record "
                           "through the ORM to see it")

    __bool__ = __str__ = __len__ = __iter__ = __getitem__ = __contains__ = _refuse


NOT_LOADED: Any = _NotLoaded()


def table_of(model: type[Base]) -> Table:
    return model.metadata.tables[model.__tablename__]


class _Rows:
    """The row records of one database session, each with the values last written (or read)."""

    def __init__(self) -> None:
        self.stored: dict[tuple[type[Base], int], tuple[Base, dict[str, Any]]] = {}

    def add(self, record: Base) -> None:
        self.stored[_key(record)] = (record, _values(record))

    def changes(self) -> Iterator[tuple[Base, dict[str, Any], dict[str, Any]]]:
        """(record, its values now, those of them that changed) for each changed record: of those an attribute was
        set on since the last look (the ORM's instrumentation flags them, held by a session or not)."""
        for record, stored in self.stored.values():
            state = instance_state(record)
            if not state.modified:
                continue
            state.modified = False
            now = _values(record)
            changed = {name: value for name, value in now.items()
                       if value is not stored[name] and value != stored[name]}
            if changed:
                yield record, now, changed


def _key(record: Base) -> tuple[type[Base], int]:
    return type(record), record.__dict__["id"]


def _values(record: Base) -> dict[str, Any]:
    state = record.__dict__
    return {name: state.get(name) for name in _watched(type(record))}


_WATCHED: dict[type[Base], tuple[str, ...]] = {}


def _watched(model: type[Base]) -> tuple[str, ...]:
    names = _WATCHED.get(model)
    if names is None:
        names = _WATCHED[model] = tuple(column.name for column in table_of(model).c if column.name != "id")
    return names


def records(db: Session, model: type[M], rows: Iterable[Sequence[Any]], names: Sequence[str]) -> list[M]:
    """Rows holding the columns ``names`` (``id`` among them) as ``model`` objects the session writes back when they
    change; the columns not named hold :data:`NOT_LOADED`."""
    held = db.info.get(_KEY)
    if held is None:
        held = db.info[_KEY] = _Rows()
    missing = dict.fromkeys((name for name in _watched(model) if name not in names), NOT_LOADED)
    manager = manager_of_class(model)
    made = []
    for row in rows:
        record = manager.new_instance()  # as the ORM makes an object it loads: no constructor, no attribute events
        record.__dict__.update(zip(names, row, strict=True))
        record.__dict__.update(missing)
        held.add(record)
        made.append(record)
    return made


def write(db: Session) -> None:
    """Write the changed row records: UPDATEs of the columns that changed, one executemany per table and set."""
    held: _Rows | None = db.info.get(_KEY)
    if held is None or not held.stored:
        return
    by_shape: dict[tuple[type[Base], tuple[str, ...]], list[dict[str, Any]]] = {}
    for record, now, changed in list(held.changes()):
        model, row_id = _key(record)
        by_shape.setdefault((model, tuple(changed)), []).append({**changed, "row_id": row_id})
        held.stored[(model, row_id)] = (record, now)
    if not by_shape:
        return
    connection = db.connection()
    for (model, shape), params in by_shape.items():
        connection.execute(_update(model, shape), params)


_UPDATES: dict[tuple[type[Base], tuple[str, ...]], Any] = {}


def _update(model: type[Base], shape: tuple[str, ...]) -> Any:
    statement = _UPDATES.get((model, shape))
    if statement is None:
        table = table_of(model)
        statement = _UPDATES[(model, shape)] = (update(table).where(table.c.id == bindparam("row_id"))
                                                .values({name: bindparam(name) for name in shape}))
    return statement


@contextmanager
def savepoint(db: Session) -> Iterator[None]:
    """``db.begin_nested()`` for a block that changes row records: when it rolls back, they are put back as they
    were when it began (the ORM does as much for the objects it holds)."""
    write(db)
    held: _Rows | None = db.info.get(_KEY)
    before = dict(held.stored) if held is not None else {}
    try:
        with db.begin_nested():
            yield
    except BaseException:
        if held is not None:
            for record, values in before.values():
                for name, value in values.items():
                    setattr(record, name, value)
            held.stored = before
        raise


def _forget_after_rollback(db: Session, transaction: Any) -> None:
    """A rolled-back transaction (not a savepoint: :func:`savepoint` sees to those) takes the records' changes with
    it: the records are forgotten, never written in a later transaction of the same session."""
    if transaction.parent is None:
        db.info.pop(_KEY, None)


def _write_before_statement(state: Any) -> None:
    write(state.session)


def _write_before_commit(db: Session) -> None:
    write(db)


event.listen(Session, "do_orm_execute", _write_before_statement)
event.listen(Session, "before_commit", _write_before_commit)
event.listen(Session, "after_soft_rollback", _forget_after_rollback)
