"""--version and info: which qbwc-service this is, and where its settings and database are. Neither opens the
database, so both work when it is missing or unreachable."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from qbwc_service.cli._common import JsonOption, out, print_json
from qbwc_service.errors import SettingsError


def package_version() -> str:
    try:
        return version("qbwc-service")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def print_version() -> None:
    from qbwc_service.settings import load_settings

    out.print(f"qbwc-service {package_version()}", markup=False, highlight=False)
    try:
        out.print(f"database: {_database(load_settings().database_url)}", markup=False, highlight=False)
    except SettingsError as exc:
        out.print(f"settings: {exc}", markup=False, highlight=False)


def info(as_json: JsonOption = False) -> None:
    """The version, the settings file, the database and where the service listens."""
    from qbwc_service.db.ready import shown_url, sqlite_file
    from qbwc_service.settings import config_file, data_dir, default_database_url, load_settings

    settings = load_settings()
    path = sqlite_file(settings.database_url)
    facts: dict[str, Any] = {
        "version": package_version(),
        "settings_file": str(config_file()) if config_file() else None,
        "database_url": shown_url(settings.database_url),
        "database_is_default": settings.database_url == default_database_url(),
        "database_file": str(path) if path else None,
        "database_file_exists": path.exists() if path else None,
        "data_dir": str(data_dir()),
        "listens_on": f"{settings.host}:{settings.port}",
        "web_connector_url": settings.qbwc_url,
    }
    if as_json:
        print_json(facts)
        return
    lines = [
        f"qbwc-service {facts['version']}",
        f"settings file:     {facts['settings_file'] or 'none (QBWC_* variables and defaults)'}",
        f"database:          {_database(settings.database_url)}",
        f"data folder:       {facts['data_dir']}",
        f"listens on:        {facts['listens_on']}",
        f"Web Connector URL: {facts['web_connector_url']}",
    ]
    out.print("\n".join(lines), markup=False, highlight=False)


def _database(url: str) -> str:
    from qbwc_service.db.ready import shown_url, sqlite_file
    from qbwc_service.settings import default_database_url

    path = sqlite_file(url)
    where = shown_url(url) if path is None else str(path)
    origin = ("the default; QBWC_DATABASE_URL overrides it" if url == default_database_url()
              else "from QBWC_DATABASE_URL or the settings file")
    missing = path is not None and not path.exists()
    return f"{where} ({'not created yet; ' if missing else ''}{origin})"
