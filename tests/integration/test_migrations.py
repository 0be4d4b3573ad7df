"""The schema comes from the migrations, and the migrations match the models, on every engine."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

from qbwc_service.db.migrate import current_revision, head_revision, upgrade
from qbwc_service.db.models import Base

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
