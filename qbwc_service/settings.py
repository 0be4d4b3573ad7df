"""Settings: a TOML file (``QBWC_CONFIG``, default ``config/qbwc-service.toml`` when present) overlaid
by ``QBWC_*`` environment variables. Built by :func:`load_settings`, never at import time.

The default database is a SQLite file in the user's data folder (:func:`data_dir`), the same whatever folder
a command runs from."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import platformdirs
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from qbwc_service.errors import SettingsError

DEFAULT_CONFIG_FILE = Path("config/qbwc-service.toml")
DATABASE_FILE_NAME = "qbwc-service.db"


def data_dir() -> Path:
    """The user's data folder for the service: ~/.local/share/qbwc-service on Linux,
    %LOCALAPPDATA%\\qbwc-service on Windows, ~/Library/Application Support/qbwc-service on macOS."""
    return Path(platformdirs.user_data_dir("qbwc-service", appauthor=False))


def default_database_url() -> str:
    """A SQLite file in :func:`data_dir`."""
    return f"sqlite:///{(data_dir() / DATABASE_FILE_NAME).as_posix()}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QBWC_", extra="forbid", validate_default=True)

    database_url: str = Field(
        default_factory=default_database_url,
        description="SQLAlchemy URL. Default: qbwc-service.db in the user's data folder (data_dir()).",
    )
    host: str = Field(default="127.0.0.1", description="Address `serve` listens on.")
    port: int = Field(default=8080, ge=1, le=65535, description="Port `serve` listens on.")
    public_url: str = Field(
        default="http://localhost:8080",
        description="Base URL the Web Connector reaches; the .qwc AppURL is <public_url>/qbwc. "
        "Must be https unless the host is localhost.",
    )
    app_name: str = Field(default="qbwc-service", min_length=1, max_length=31)
    app_description: str = Field(
        default="Fusion Operations <-> QuickBooks Desktop", max_length=80
    )
    session_timeout_seconds: int = Field(default=1800, ge=30)
    session_takeover_seconds: int = Field(
        default=120, ge=0,
        description="A new authenticate from the address of a live session idle this long replaces it (the Web "
        "Connector runs one session at a time, so its old one is dead), at once when the process that served it "
        "is gone; from elsewhere it gets 'busy'.",
    )
    database_retry_seconds: float = Field(
        default=10, ge=0,
        description="A call whose transaction failed on the database in a way that may pass (a dropped connection, "
        "a lock held too long) is made again, from what the Web Connector sent, for up to this many seconds "
        "of waiting (0.1 s, then doubling) before the call fails.",
    )
    batch_size: int = Field(default=50, ge=1, le=1000, description="Jobs per qbXML message set.")
    max_message_set_bytes: int = Field(
        default=4 * 1024 * 1024, ge=64 * 1024,
        description="Largest qbXML message set sent at once; the jobs beyond it go in the next one, and a single "
        "request larger than this is refused.",
    )
    retention_done_days: int = Field(
        default=90, ge=1,
        description="Done and cancelled jobs finished longer ago than this are pruned with their events: deleted, or, "
        "when their key stops the same work from being queued again (a Fusion entity, an operator's --key), kept "
        "without their XML and events.",
    )
    retention_dead_days: int | None = Field(
        default=None, ge=1,
        description="Dead jobs are pruned this long after they died; unset: kept until a person retries or cancels "
        "them.",
    )
    retention_unknown_days: int | None = Field(
        default=None, ge=1,
        description="Jobs whose outcome is unknown are pruned this long after it was lost; unset: kept until a "
        "lookup or a person settles them.",
    )
    retention_history_days: int = Field(
        default=90, ge=1,
        description="Ended Web Connector sessions and the events of no job (sessions, logins refused, connection "
        "changes) older than this are pruned.",
    )
    max_attempts: int = Field(default=5, ge=1, description="Attempts before a job is dead.")
    retry_backoff_seconds: int = Field(default=60, ge=0, description="First retry delay; doubles.")
    max_body_bytes: int = Field(
        default=128 * 1024 * 1024, ge=1024,
        description="Largest SOAP request body accepted: a receiveResponseXML (QuickBooks' answer) under a live "
        "session's ticket; every other request is held to max_small_body_bytes.",
    )
    max_small_body_bytes: int = Field(
        default=64 * 1024, ge=1024,
        description="Largest body of every request but receiveResponseXML under a live session's ticket (413 "
        "above, unread past this many bytes).",
    )
    large_bodies_budget_bytes: int = Field(
        default=3 * 128 * 1024 * 1024, ge=1024,
        description="Bytes of large bodies (over max_small_body_bytes) held at once, process-wide; a large body "
        "without room waits up to request_body_timeout_seconds, then gets 503 with Retry-After. At least "
        "max_body_bytes.",
    )
    small_bodies_budget_bytes: int = Field(
        default=16 * 1024 * 1024, ge=1024,
        description="Bytes of the other bodies held at once, process-wide (503 with Retry-After beyond).",
    )
    request_body_timeout_seconds: float = Field(
        default=60, gt=0, description="A request whose body stops arriving for this long is answered 408."
    )
    auth_window_seconds: int = Field(
        default=900, ge=1, description="The window refused authentications are counted in, per username and per "
        "client address.",
    )
    auth_failures_per_username: int = Field(
        default=10, ge=1, description="Refusals of a username within the window that lock it for "
        "auth_lockout_seconds (the address it last authenticated from stays let in).",
    )
    auth_failures_per_address: int = Field(
        default=50, ge=1, description="Refusals from a client address (an IPv6 /64) within the window that lock "
        "it for auth_lockout_seconds, whatever username or token it sends.",
    )
    auth_lockout_seconds: int = Field(default=900, ge=1, description="How long a lockout lasts.")
    idle_min_run_seconds: int = Field(
        default=60, ge=0, description="authenticate's 4th value when there is nothing to do."
    )
    recommended_client_version: str = Field(default="2.3.0.0")
    minimum_client_version: str = Field(default="2.1.0.0")
    run_every_minutes: int = Field(default=5, ge=1, description=".qwc Scheduler RunEveryNMinutes.")
    qwc_template: Path | None = Field(default=None, description="Overrides the .qwc template.")
    max_qbxml_version: str = Field(default="16.0")
    qbxml_schema_gate: bool = Field(
        default=True,
        description="Validate every request against Intuit's qbXML schema before it is sent; an invalid one "
        "is never sent (its job is dead with the schema's message). False turns the gate off.",
    )
    qbxml_schema_dir: Path | None = Field(
        default=None,
        description="A folder holding Intuit's qbxmlops160.xsd and/or qbxmlops130.xsd, used by the schema gate "
        "instead of the copies shipped with the service.",
    )
    support_contact: str = Field(
        default="", max_length=200,
        description="How the people using the Web Connector reach you (a name, an email address, a phone "
        "number); shown on the support page the .qwc links to.",
    )
    api_docs: bool = Field(
        default=True,
        description="Serve the HTTP API's OpenAPI document (/api/v1/openapi.json) and docs page (/api/v1/docs), to "
        "a caller with a valid API key; false turns both off.",
    )
    api_max_body_bytes: int = Field(
        default=10 * 1024 * 1024, ge=1024,
        description="Largest HTTP API request body accepted (413 above); a bulk request of 10,000 raw jobs is "
        "about 1 MiB.",
    )
    metrics_public: bool = Field(
        default=False,
        description="Serve /metrics without an API key (for a Prometheus that cannot send one); by default it "
        "needs a key, read-only or admin.",
    )
    metrics_window_seconds: int = Field(
        default=3600, ge=60,
        description="The recent past /metrics reports on: the sessions active in it, their round trips, and the "
        "QuickBooks status codes of the jobs settled in it.",
    )
    log_level: str = Field(default="INFO")
    secret_key: SecretStr | None = Field(
        default=None,
        description="The key that encrypts the Fusion credentials stored in the database (a Fernet key, made by "
        "`qbwc-service secret-key`). Several keys separated by commas: the first encrypts, all decrypt (to "
        "rotate). Unset: no Fusion credentials can be stored or used.",
    )
    secret_key_file: Path | None = Field(
        default=None, description="A file holding secret_key (a systemd credential, a Docker secret) instead."
    )
    pages_session_seconds: int = Field(
        default=8 * 3600, ge=60, le=30 * 24 * 3600,
        description="How long a sign-in to the web pages lasts before the operator signs in again.",
    )
    fusion_requests_per_minute: int = Field(
        default=120, ge=2, le=100_000,
        description="Requests the service makes to one Fusion account in any minute, all its processes together.",
    )
    fusion_burst: int = Field(
        default=10, ge=1, description="Of those, how many may go at once after a quiet spell."
    )
    fusion_timeout_seconds: float = Field(default=30, gt=0, description="Each Fusion request's timeout.")
    fusion_max_attempts: int = Field(
        default=5, ge=1, description="Attempts of a Fusion request that fails for want of a connection or on 5xx."
    )
    fusion_retry_backoff_seconds: float = Field(
        default=1, ge=0, description="The first wait between those attempts; it doubles (at most 60 s)."
    )
    fusion_max_wait_seconds: float = Field(
        default=300, ge=0,
        description="The longest one request waits for the request budget and Fusion's 429 answers before it "
        "gives up (FusionRateLimited, a transient error).",
    )
    delivery_worker: bool = Field(
        default=True, description="`serve` delivers the records pulled from QuickBooks to Fusion in the background "
        "(false: only `qbwc-service worker` does).",
    )
    delivery_poll_seconds: float = Field(
        default=15, gt=0, description="How often the background worker looks for records to deliver.",
    )
    delivery_retry_seconds: float = Field(
        default=60, ge=0, description="The first wait before a delivery that met a transient Fusion error is tried "
        "again; it doubles, up to delivery_retry_max_seconds.",
    )
    delivery_retry_max_seconds: float = Field(default=3600, ge=0, description="The longest wait between tries.")
    delivery_lease_seconds: int = Field(
        default=900, ge=30, description="How long a worker holds a delivery it took; a worker that stopped midway "
        "lets it go to another after this.",
    )

    fusion_poll: bool = Field(
        default=True, description="`serve` polls Fusion for the automatic send flows (off: run `qbwc-service poll` "
        "instead, or rely on webhooks).",
    )
    fusion_poll_seconds: float = Field(default=60, gt=0, description="Seconds between two polls of Fusion.")
    webhook_tolerance_seconds: int = Field(
        default=300, ge=10, le=3600,
        description="A Fusion webhook whose signed timestamp is further than this from now is refused (replay).",
    )

    @field_validator("secret_key", "secret_key_file", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("secret_key")
    @classmethod
    def _fernet_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            from qbwc_service.secretbox import check_keys

            check_keys(value.get_secret_value())  # never echoes the key
        return value

    @field_validator("secret_key_file")
    @classmethod
    def _key_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"{value} is not a file")
        return value

    @model_validator(mode="after")
    def _budget(self) -> Settings:
        if self.fusion_burst >= self.fusion_requests_per_minute:
            raise ValueError("fusion_burst must be below fusion_requests_per_minute")
        return self

    @model_validator(mode="after")
    def _budgets(self) -> Settings:
        if self.large_bodies_budget_bytes < self.max_body_bytes:
            raise ValueError("large_bodies_budget_bytes must be at least max_body_bytes")
        if self.max_small_body_bytes > self.max_body_bytes:
            raise ValueError("max_small_body_bytes must be at most max_body_bytes")
        if self.small_bodies_budget_bytes < self.max_small_body_bytes:
            raise ValueError("small_bodies_budget_bytes must be at least max_small_body_bytes")
        return self

    @field_validator("qbxml_schema_dir")
    @classmethod
    def _schema_dir(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_dir():
            raise ValueError(f"{value} is not a folder")
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        upper = value.upper()
        if upper not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return upper

    @field_validator("public_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql")):
            raise ValueError("must be a sqlite:/// or postgresql+psycopg:// URL")
        return value

    @field_validator("recommended_client_version", "minimum_client_version", "max_qbxml_version")
    @classmethod
    def _dotted(cls, value: str) -> str:
        parts = value.split(".")
        if not parts or not all(p.isdigit() for p in parts):
            raise ValueError("must be a dotted version such as 2.3.0.0")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = config_file()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    @property
    def qbwc_url(self) -> str:
        return f"{self.public_url}/qbwc"

    @property
    def support_url(self) -> str:
        return f"{self.public_url}/support"


def config_file() -> Path | None:
    """The settings file read, if any: the one QBWC_CONFIG names, else config/qbwc-service.toml when present."""
    named = os.environ.get("QBWC_CONFIG")
    if named:
        path = Path(named)
        if not path.is_file():
            raise SettingsError(f"QBWC_CONFIG names {path}, which is not a file")
        return path
    return DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.is_file() else None


def load_settings(**overrides: Any) -> Settings:
    """Read settings; any invalid value raises SettingsError with one line naming it."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "settings"
        raise SettingsError(f"invalid setting {where}: {first['msg']}") from exc
    except ValueError as exc:  # a TOML file that does not parse
        raise SettingsError(f"invalid settings file: {exc}") from exc
