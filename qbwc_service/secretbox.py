"""Secrets at rest: what the service must keep and use again (Fusion tokens, OAuth client secrets) is stored
encrypted with ``cryptography``'s Fernet (AES-128-CBC with an HMAC-SHA256, authenticated) under the
``secret_key`` setting, and decrypted only to be used. Without a key nothing is stored (SecretKeyMissing).

``secret_key`` may hold several keys separated by commas: the first encrypts, every one decrypts (Fernet's
MultiFernet), so a key is rotated by putting the new one first and storing the credentials again."""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from qbwc_service.errors import SecretKeyMissing, SecretUnreadable, SettingsError
from qbwc_service.settings import Settings


def new_key() -> str:
    """A fresh random key for ``secret_key``."""
    return Fernet.generate_key().decode("ascii")


def check_keys(text: str) -> list[str]:
    """The keys in ``text`` (comma-separated), each checked; a bad one raises ValueError naming its position,
    never its value."""
    keys = [part.strip() for part in text.split(",") if part.strip()]
    if not keys:
        raise ValueError("is empty")
    for position, key in enumerate(keys, 1):
        try:
            Fernet(key.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            raise ValueError(f"key {position} is not a Fernet key (32 bytes in URL-safe base64, 44 characters; "
                             "`qbwc-service secret-key` makes one)") from None
    return keys


def keys_of(settings: Settings, purpose: str) -> list[str]:
    """The keys of ``secret_key`` (or of the file ``secret_key_file`` names), the one that encrypts first;
    SecretKeyMissing, saying that ``purpose`` is refused, when neither is set."""
    if settings.secret_key is not None:
        return check_keys(settings.secret_key.get_secret_value())
    if settings.secret_key_file is not None:
        try:
            text = settings.secret_key_file.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise SettingsError(f"cannot read secret_key_file {settings.secret_key_file}: {exc}") from exc
        try:
            return check_keys(text)
        except ValueError as exc:
            raise SettingsError(f"invalid secret_key_file {settings.secret_key_file}: {exc}") from exc
    raise SecretKeyMissing(purpose)


def derived_keys(settings: Settings, purpose: str, label: bytes) -> list[bytes]:
    """A key of its own for another use than encryption (``label`` names the use), derived from each key of
    ``secret_key`` in the same order (HMAC-SHA256 keyed by the Fernet key): knowing a derived key tells nothing
    of the Fernet key, and rotating ``secret_key`` rotates the derived keys with it."""
    return [hmac.new(base64.urlsafe_b64decode(key), label, hashlib.sha256).digest()
            for key in keys_of(settings, purpose)]


class SecretBox:
    """Encrypts and decrypts secrets with the configured keys."""

    def __init__(self, keys: list[str]) -> None:
        self._fernet = MultiFernet([Fernet(key.encode("ascii")) for key in keys])

    @classmethod
    def from_settings(cls, settings: Settings, purpose: str) -> SecretBox:
        """The box of ``secret_key`` (or the file ``secret_key_file`` names); SecretKeyMissing, saying that
        ``purpose`` is refused, when neither is set."""
        return cls(keys_of(settings, purpose))

    def seal(self, secret: str) -> str:
        """``secret`` encrypted (text, safe to store)."""
        return self._fernet.encrypt(secret.encode("utf-8")).decode("ascii")

    def open(self, sealed: str, what: str) -> str:
        """The secret ``sealed`` holds; SecretUnreadable (naming ``what``) when no key opens it."""
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError) as exc:
            raise SecretUnreadable(what) from exc
