"""The key ring mailroom encrypts what it stores with: the newest key seals, every key
opens, a changed byte or a foreign key is refused, and a bad setting is one line."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from adapters.outbound.key_ring import (
    KeyRing,
    KeyRingError,
    Tampered,
    UnknownKey,
    new_key_entry,
    parse_key_ring,
)
from orchestrator.encryption_keys import key_ring
from orchestrator.settings import Settings
from orchestrator.startup_checks import StartupError


def test_the_newest_key_seals_and_an_older_one_still_opens_what_it_sealed() -> None:
    old = parse_key_ring(new_key_entry("2025"))
    key_id, sealed = old.encrypt(b"Subject: my invoice", b"payload")
    rotated = parse_key_ring(f"{old_entry(old)},{new_key_entry('2026')}")
    assert rotated.current == "2026"
    assert rotated.decrypt(key_id, sealed, b"payload") == b"Subject: my invoice"
    # a longer text than one byte, which 29 random bytes hold one time in nine
    newer_id, newer = rotated.encrypt(b"Subject: my salary")
    assert newer_id == "2026" and b"salary" not in newer


def test_a_changed_byte_other_associated_data_or_a_foreign_key_is_refused() -> None:
    ring = parse_key_ring(new_key_entry("k1"))
    key_id, sealed = ring.encrypt(b"secret", b"a")
    flipped = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(Tampered):
        ring.decrypt(key_id, flipped, b"a")
    with pytest.raises(Tampered):
        ring.decrypt(key_id, sealed, b"b")
    with pytest.raises(UnknownKey):
        parse_key_ring(new_key_entry("k2")).decrypt(key_id, sealed, b"a")
    with pytest.raises(Tampered):  # another installation's key under the same id
        parse_key_ring(new_key_entry("k1")).decrypt(key_id, sealed, b"a")


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("", "no key"),
        ("k1", "expected id:base64key"),
        ("k1:not-base64!", "not base64"),
        (f"k1:{base64.b64encode(b'short').decode()}", "5 bytes, AES-256 needs 32"),
        (f"{new_key_entry('k1')},{new_key_entry('k1')}", "two keys with one id"),
        (f"bad/id:{base64.b64encode(bytes(32)).decode()}", "key id"),
    ],
)
def test_a_bad_key_ring_is_one_line_without_the_key(text: str, said: str) -> None:
    with pytest.raises(KeyRingError, match=said) as raised:
        parse_key_ring(text)
    assert "\n" not in str(raised.value)
    assert base64.b64encode(bytes(32)).decode() not in str(raised.value)


def test_without_a_setting_one_key_is_made_once_and_every_process_gets_it(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    first = key_ring(settings)
    assert first == key_ring(Settings(data_dir=tmp_path))
    assert (tmp_path / "encryption.key").stat().st_mode & 0o777 == 0o600


def test_keys_from_the_setting_or_a_file_and_a_bad_one_stops_the_start(tmp_path: Path) -> None:
    entries = f"{new_key_entry('a')}\n{new_key_entry('b')}\n"
    (tmp_path / "keys").write_text(entries)
    assert (
        key_ring(Settings(data_dir=tmp_path, encryption_keys_file=tmp_path / "keys")).current == "b"
    )
    assert key_ring(Settings(data_dir=tmp_path, encryption_keys=entries)).current == "b"
    with pytest.raises(StartupError, match=r"^MAILROOM_ENCRYPTION_KEYS: entry 1"):
        key_ring(Settings(data_dir=tmp_path, encryption_keys="nonsense"))
    with pytest.raises(StartupError, match=r"^MAILROOM_ENCRYPTION_KEYS_FILE: "):
        key_ring(Settings(data_dir=tmp_path, encryption_keys_file=tmp_path / "missing"))


def old_entry(ring: KeyRing) -> str:
    key_id, key = ring.keys[-1]
    return f"{key_id}:{base64.b64encode(key).decode()}"


KEY = base64.b64encode(bytes(range(32))).decode()


@pytest.mark.parametrize(
    "text",
    [
        f"{KEY}:k1",  # the id after the key
        f"{KEY}:{KEY}",  # a key where the id goes, with a key after it
        f"{KEY[:20]}:{KEY[20:]}",  # a key cut in two: its halves taken for an id and a key
    ],
)
def test_a_key_written_where_its_id_goes_is_never_said_back(text: str) -> None:
    with pytest.raises(KeyRingError) as raised:
        parse_key_ring(text)
    said = str(raised.value)
    assert KEY not in said and KEY[:20] not in said, said


@pytest.mark.parametrize("content", ["zz" * 32, "ab", "\xff" * 64])
def test_a_damaged_made_key_stops_the_start_naming_its_file(tmp_path: Path, content: str) -> None:
    (tmp_path / "encryption.key").write_text(content, encoding="latin-1")
    with pytest.raises(StartupError, match=r"encryption\.key: not a key") as raised:
        key_ring(Settings(data_dir=tmp_path))
    assert content not in str(raised.value) and "\n" not in str(raised.value)


def test_a_ring_printed_in_a_traceback_or_a_log_line_shows_no_key() -> None:
    ring = parse_key_ring(new_key_entry("k1"))
    _, key = ring.keys[0]
    shown = f"{ring!r} {ring!s}"
    assert base64.b64encode(key).decode() not in shown and str(key) not in shown
