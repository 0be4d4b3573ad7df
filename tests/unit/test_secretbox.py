"""Secrets at rest: sealed with the secret key, opened only with it; no key, no secrets stored."""

from __future__ import annotations

import pytest

from qbwc_service.errors import SecretKeyMissing, SecretUnreadable, SettingsError
from qbwc_service.secretbox import SecretBox, new_key
from qbwc_service.settings import load_settings


def test_a_sealed_secret_holds_nothing_readable_and_opens_with_its_key() -> None:
    box = SecretBox([new_key()])
    sealed = box.seal("fusion-token-123")
    assert "fusion-token-123" not in sealed
    assert box.seal("fusion-token-123") != sealed  # a fresh IV each time
    assert box.open(sealed, "the token") == "fusion-token-123"


def test_another_key_cannot_open_it_and_says_which_secret() -> None:
    sealed = SecretBox([new_key()]).seal("s3cret")
    with pytest.raises(SecretUnreadable, match="the Fusion secret of connection 'Shop'") as caught:
        SecretBox([new_key()]).open(sealed, "the Fusion secret of connection 'Shop'")
    assert "s3cret" not in str(caught.value)


def test_keys_rotate_new_first_old_still_opens() -> None:
    old, new = new_key(), new_key()
    sealed_with_old = SecretBox([old]).seal("kept")
    rotated = SecretBox([new, old])
    assert rotated.open(sealed_with_old, "x") == "kept"
    assert SecretBox([new]).open(rotated.seal("again"), "x") == "again"


def test_the_key_comes_from_the_settings_or_a_file_and_its_absence_refuses(
    monkeypatch: pytest.MonkeyPatch, tmp_path: pytest.TempPathFactory
) -> None:
    monkeypatch.delenv("QBWC_CONFIG", raising=False)
    monkeypatch.delenv("QBWC_SECRET_KEY", raising=False)
    with pytest.raises(SecretKeyMissing, match=r"storing Fusion credentials is refused: make one with "
                                                r"`qbwc-service secret-key` and set it as QBWC_SECRET_KEY"):
        SecretBox.from_settings(load_settings(), "storing Fusion credentials")
    key = new_key()
    monkeypatch.setenv("QBWC_SECRET_KEY", key)
    sealed = SecretBox.from_settings(load_settings(), "x").seal("v")
    monkeypatch.delenv("QBWC_SECRET_KEY")
    path = tmp_path / "key"  # type: ignore[operator]
    path.write_text(key + "\n")
    monkeypatch.setenv("QBWC_SECRET_KEY_FILE", str(path))
    assert SecretBox.from_settings(load_settings(), "x").open(sealed, "v") == "v"


def test_a_bad_key_is_refused_without_being_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QBWC_CONFIG", raising=False)
    monkeypatch.setenv("QBWC_SECRET_KEY", f"{new_key()},not-a-key-but-a-password")
    with pytest.raises(SettingsError, match=r"secret_key.*key 2 is not a Fernet key") as caught:
        load_settings()
    assert "not-a-key-but-a-password" not in str(caught.value)
