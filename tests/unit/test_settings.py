"""Settings come from a TOML file and QBWC_* variables; a bad value is one clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from qbwc_service.errors import SettingsError
from qbwc_service.settings import default_database_url, load_settings


def test_the_default_database_is_a_sqlite_file_in_the_users_data_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    import platformdirs

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("QBWC_CONFIG", raising=False)
    monkeypatch.delenv("QBWC_DATABASE_URL", raising=False)
    folder = Path(platformdirs.user_data_dir("qbwc-service", appauthor=False))
    assert folder.is_relative_to(tmp_path_factory.getbasetemp())  # tests/conftest.py: never the user's own
    settings = load_settings()
    assert settings.database_url == f"sqlite:///{(folder / 'qbwc-service.db').as_posix()}"
    assert settings.qbwc_url == "http://localhost:8080/qbwc"
    monkeypatch.setenv("QBWC_DATABASE_URL", "sqlite:///elsewhere.db")
    assert load_settings().database_url == "sqlite:///elsewhere.db"


def test_toml_file_then_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('port = 9000\nbatch_size = 7\npublic_url = "https://qb.example.com/"\n')
    monkeypatch.setenv("QBWC_CONFIG", str(config))
    monkeypatch.setenv("QBWC_BATCH_SIZE", "9")
    settings = load_settings()
    assert settings.port == 9000
    assert settings.batch_size == 9
    assert settings.public_url == "https://qb.example.com"


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [("QBWC_PORT", "http", "port"), ("QBWC_PORT", "70000", "port"), ("QBWC_PORT", "0", "port"),
     ("QBWC_BATCH_SIZE", "0", "batch_size"),
     ("QBWC_DATABASE_URL", "mysql://x", "database_url"), ("QBWC_LOG_LEVEL", "LOUD", "log_level"),
     ("QBWC_NOT_A_SETTING", "1", "not_a_setting")],
)
def test_invalid_setting_is_one_clear_error(monkeypatch: pytest.MonkeyPatch, name: str, value: str, words: str) -> None:
    monkeypatch.delenv("QBWC_CONFIG", raising=False)
    monkeypatch.setenv(name, value)
    if words == "not_a_setting":
        # unknown environment variables are ignored (they may belong to something else)
        load_settings()
        return
    with pytest.raises(SettingsError, match=words):
        load_settings()


def test_config_file_that_is_missing_or_broken(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("QBWC_CONFIG", str(tmp_path / "absent.toml"))
    with pytest.raises(SettingsError, match="not a file"):
        load_settings()
    broken = tmp_path / "broken.toml"
    broken.write_text("port = = 1")
    monkeypatch.setenv("QBWC_CONFIG", str(broken))
    with pytest.raises(SettingsError):
        load_settings()
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("prot = 1")
    monkeypatch.setenv("QBWC_CONFIG", str(unknown))
    with pytest.raises(SettingsError, match="prot"):
        load_settings()


def test_the_example_settings_file_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    example = Path(__file__).resolve().parents[2] / "config" / "qbwc-service.example.toml"
    monkeypatch.setenv("QBWC_CONFIG", str(example))
    monkeypatch.delenv("QBWC_DATABASE_URL", raising=False)
    settings = load_settings()
    assert settings.session_takeover_seconds == 120 and settings.batch_size == 50
    assert settings.qbxml_schema_gate and settings.qbxml_schema_dir is None
    assert settings.database_url == default_database_url()  # a copy of it does not tie the database to a folder


def test_the_schema_gate_is_on_by_default_and_a_setting_turns_it_off(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("QBWC_CONFIG", raising=False)
    monkeypatch.delenv("QBWC_QBXML_SCHEMA_GATE", raising=False)
    assert load_settings().qbxml_schema_gate is True
    monkeypatch.setenv("QBWC_QBXML_SCHEMA_GATE", "false")
    assert load_settings().qbxml_schema_gate is False


def test_custom_fields_may_not_reuse_the_entity_code_field() -> None:
    from pydantic import ValidationError

    from mappings.options import IntegrationOptions

    with pytest.raises(ValidationError, match="already receives the Fusion entity code"):
        IntegrationOptions(entity_code_field="Fusion code",
                           custom_fields=({"qbd_field": "Fusion code", "fusion_field": "x"},))  # type: ignore[arg-type]


def test_log_context_stays_on_one_line() -> None:
    import logging

    from qbwc_service.logs import ContextFormatter

    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "authenticate refused", None, None)
    record.username = "evil\nINFO forged line"
    line = ContextFormatter("%(message)s").format(record)
    assert "\n" not in line and "username='evil\\nINFO forged line'" in line
