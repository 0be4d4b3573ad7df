"""The command line starts light: importing it, and asking it for help, loads none of the heavy libraries (the web
stack, SOAP, the database, XML, HTTP clients, the settings) nor the service's modules that bring them (pydantic
itself is not on the list: typer builds its parameters with it). Each command imports what
it needs when it runs (the rule is in qbwc_service/cli/__init__.py). Checked in a fresh interpreter, by the modules
loaded, never by a timing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

HEAVY = (
    "fastapi", "starlette", "spyne", "uvicorn", "a2wsgi", "sqlalchemy", "alembic", "psycopg", "lxml", "httpx",
    "pydantic_settings", "cryptography",
    "qbwc_service.usecases", "qbwc_service.queue", "qbwc_service.db.models", "qbwc_service.db.engine",
    "qbwc_service.kinds", "qbwc_service.settings", "qbwc_service.app", "qbwc_service.soap",
)

_PROBE = """
import json, sys
sys.argv = ["qbwc-service", *sys.argv[1:]]
import qbwc_service.cli
if len(sys.argv) > 1:
    try:
        qbwc_service.cli.main()
    except SystemExit:
        pass
print("\\n" + json.dumps(sorted(sys.modules)))
"""


def _loaded(*arguments: str) -> set[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           "COLUMNS": "100"}
    done = subprocess.run([sys.executable, "-c", _PROBE, *arguments], cwd=ROOT, env=env, capture_output=True,
                          text=True, check=True, timeout=60)
    return set(json.loads(done.stdout.rsplit("\n", 2)[-2]))


def _heavy(loaded: set[str]) -> list[str]:
    return sorted(name for name in loaded if name in HEAVY or name.split(".")[0] in HEAVY)


@pytest.mark.parametrize("arguments", [(), ("--help",), ("enqueue", "--help"), ("jobs", "list", "--help"),
                                       ("connection", "--help"), ("simulate", "--help")])
def test_the_command_line_and_its_help_load_no_heavy_module(arguments: tuple[str, ...]) -> None:
    assert _heavy(_loaded(*arguments)) == []


def test_the_probe_sees_a_heavy_module_when_a_command_loads_one() -> None:
    """The check above can fail: `info` reads the settings."""
    assert "pydantic_settings" in _heavy(_loaded("info"))


def test_the_deliveries_page_size_is_the_use_cases_own() -> None:
    from qbwc_service import delivery_usecases
    from qbwc_service.cli import deliveries

    assert deliveries.MAX_PAGE == delivery_usecases.MAX_PAGE
