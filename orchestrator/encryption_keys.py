"""The installation's key ring (adapters/outbound/key_ring.py): MAILROOM_ENCRYPTION_KEYS,
else MAILROOM_ENCRYPTION_KEYS_FILE, else one key made once and shared by every process of
the installation — in its database when it has one (every node must decrypt what another
sealed), else in the data directory, as the reply-token key is (orchestrator/key_file.py)."""

from __future__ import annotations

from adapters.outbound.key_ring import KEY_BYTES, KeyRing, KeyRingError, parse_key_ring
from orchestrator.key_file import shared_key
from orchestrator.settings import Settings
from orchestrator.startup_checks import StartupError, reason
from orchestrator.stores import database_key

KEY_FILE = "encryption.key"
KEY_NAME = "encryption"
MADE_KEY_ID = "k0"  # the id of the key made when none is configured


def key_ring(settings: Settings) -> KeyRing:
    if settings.encryption_keys is not None and settings.encryption_keys.get_secret_value():
        return _parsed("MAILROOM_ENCRYPTION_KEYS", settings.encryption_keys.get_secret_value())
    if settings.encryption_keys_file is not None:
        path = settings.encryption_keys_file
        try:
            text = path.read_text()
        except OSError as exc:
            raise StartupError(f"MAILROOM_ENCRYPTION_KEYS_FILE: {path}: {reason(exc)}") from None
        return _parsed("MAILROOM_ENCRYPTION_KEYS_FILE", text)
    if settings.database_url:
        made = database_key(settings.database_url, KEY_NAME)
        where = f"MAILROOM_DATABASE_URL: shared secret {KEY_NAME!r}"
    else:
        made = shared_key(settings.data_dir / KEY_FILE)
        where = f"MAILROOM_DATA_DIR: {settings.data_dir / KEY_FILE}"
    return KeyRing(((MADE_KEY_ID, made_key(made, where)),))


def made_key(made: bytes, where: str) -> bytes:
    """A key made once (64 hex digits); a damaged one stops the start, said without it."""
    try:
        key = bytes.fromhex(made.decode("ascii"))
    except ValueError:  # UnicodeDecodeError included
        key = b""
    if len(key) != KEY_BYTES:
        raise StartupError(
            f"{where}: not a key of {KEY_BYTES * 2} hex digits: restore it from a backup "
            "(what it sealed opens only with it)"
        )
    return key


def _parsed(name: str, text: str) -> KeyRing:
    try:
        return parse_key_ring(text)
    except KeyRingError as exc:
        raise StartupError(f"{name}: {exc}") from None
