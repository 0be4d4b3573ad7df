"""The schema comes from the migrations, and the migrations match the models, on every engine."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

from qbwc_service.db.migrate import current_revision, head_revision, upgrade
from qbwc_service.db.models import Base
from qbwc_service.db.ready import open_database
from qbwc_service.errors import SchemaNotCurrent

pytestmark = pytest.mark.each_database


def test_upgrade_from_empty_matches_the_models(engine_empty: Engine) -> None:
    assert current_revision(engine_empty) is None
    upgrade(engine_empty)
    assert current_revision(engine_empty) == head_revision()
    tables = set(inspect(engine_empty).get_table_names())
    assert {"qbwc_connections", "qbwc_sessions", "qbwc_jobs", "qbwc_events"} <= tables
    with engine_empty.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_upgrade_twice_changes_nothing(engine: Engine) -> None:
    before = current_revision(engine)
    upgrade(engine)
    assert current_revision(engine) == before


def test_a_database_without_the_schema_is_refused_until_upgraded(engine_empty: Engine) -> None:
    """What `serve` and the CLI do with PostgreSQL that `db upgrade` never ran on: one line saying to run it."""
    url = engine_empty.url.render_as_string(hide_password=False)
    with engine_empty.connect():  # SQLite: the file exists, empty
        pass
    with pytest.raises(SchemaNotCurrent, match=r"no qbwc-service tables yet; run `qbwc-service db upgrade`"):
        open_database(url, create=False, migrate=False)
    opened = open_database(url, create=False, migrate=True)
    assert current_revision(opened) == head_revision()
    opened.dispose()
    open_database(url, create=False, migrate=False).dispose()
