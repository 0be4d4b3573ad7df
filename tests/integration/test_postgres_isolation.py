"""The test suite keeps to a schema of its own in the database QBWC_TEST_POSTGRES_URL names: what else is in
that database (a user's tables, even ones named like the service's) survives a test run untouched."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from qbwc_service.db.engine import make_engine
from tests.conftest import POSTGRES_URL, PostgresDatabase

pytestmark = [pytest.mark.postgres, pytest.mark.skipif(
    not POSTGRES_URL, reason="QBWC_TEST_POSTGRES_URL is not set; PostgreSQL tests skipped")]

ROOT = Path(__file__).resolve().parents[2]


def _schemas(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.scalars(text("SELECT nspname FROM pg_namespace")))


def test_the_schema_holds_every_table_and_the_migration_version(postgres_database: PostgresDatabase) -> None:
    engine = postgres_database.migrated()
    try:
        with engine.connect() as conn:
            assert conn.scalar(text("SELECT current_schema()")) == postgres_database.schema
            placed = dict(conn.execute(text(
                "SELECT table_name, table_schema FROM information_schema.tables "
                "WHERE table_name IN ('qbwc_jobs', 'qbwc_connections', 'alembic_version')")).all())
    finally:
        engine.dispose()
    assert placed == dict.fromkeys(("qbwc_jobs", "qbwc_connections", "alembic_version"), postgres_database.schema)


def test_a_test_run_leaves_the_rest_of_the_database_alone() -> None:
    assert POSTGRES_URL
    engine = make_engine(POSTGRES_URL)
    sentinel = f"qbwc_sentinel_{secrets.token_hex(4)}"  # named like the service's tables, in public
    try:
        with engine.begin() as conn:
            conn.execute(text(f"CREATE TABLE public.{sentinel} (note text)"))
            conn.execute(text(f"INSERT INTO public.{sentinel} VALUES ('the user''s row')"))
        schemas = _schemas(engine)
        # a run of the tests that create, empty, migrate and drop databases, PostgreSQL's included
        env = {**os.environ, "PYTHONPATH": str(ROOT), "QBWC_TEST_POSTGRES_URL": POSTGRES_URL}
        run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "postgresql",
                              "tests/integration/test_migrations.py", "tests/integration/test_queue.py"],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stdout + run.stderr
        assert "passed" in run.stdout and "skipped" not in run.stdout, run.stdout
        with engine.connect() as conn:
            assert list(conn.scalars(text(f"SELECT note FROM public.{sentinel}"))) == ["the user's row"]
        assert _schemas(engine) == schemas  # the run's own schema is gone with it
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"DROP TABLE IF EXISTS public.{sentinel}"))
        engine.dispose()
