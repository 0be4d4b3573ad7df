"""Fixtures of the security suite: the fixtures of the in-process protocol, and a database URL for `serve`."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from tests.inprocess import protocol

__all__ = ["database_url", "protocol"]


@pytest.fixture
def database_url(engine: Engine) -> str:
    """The URL of the test's migrated database (SQLite, or PostgreSQL for a test marked each_database), for a
    `serve` process of its own."""
    return engine.url.render_as_string(hide_password=False)
