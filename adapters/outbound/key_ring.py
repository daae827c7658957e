"""The keys mailroom encrypts what it stores with (issue 22): Temporal payloads, blobs.
AES-256-GCM (the `cryptography` library's AESGCM): a fresh 96-bit nonce per message, the
key's id kept beside the ciphertext so that older keys still decrypt after a rotation; the
newest key encrypts."""

from __future__ import annotations

import base64
import binascii
import functools
import os
import re
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12
KEY_ID = re.compile(r"[A-Za-z0-9._-]{1,32}")


class KeyRingError(ValueError):
    """A key ring that cannot be used, said in one line (never with a key in it)."""


class UnknownKey(KeyRingError):
    """Sealed with a key this ring does not have (retired too early, another installation)."""


class Tampered(KeyRingError):
    """The ciphertext, its nonce or its associated data was changed, or the key is wrong."""


@dataclass(frozen=True)
class KeyRing:
    """`keys`: (id, 32-byte key), oldest first; the last one encrypts, every one decrypts."""

    # never in a repr: a ring printed in a traceback or a log line would give its keys away
    keys: tuple[tuple[str, bytes], ...] = field(repr=False)

    def __post_init__(self) -> None:
        if not self.keys:
            raise KeyRingError("no key")
        ids = [key_id for key_id, _ in self.keys]
        if len(set(ids)) != len(ids):
            raise KeyRingError("two keys with one id")
        # An entry is named by its place, never by its id: a key pasted where the id goes
        # (or cut in two) would otherwise be said back, into a terminal or a log.
        for number, (key_id, key) in enumerate(self.keys, start=1):
            if not KEY_ID.fullmatch(key_id):
                raise KeyRingError(
                    f"entry {number}: key id not 1-32 letters, digits, '.', '_', '-'"
                )
            if len(key) != KEY_BYTES:
                raise KeyRingError(f"entry {number}: {len(key)} bytes, AES-256 needs {KEY_BYTES}")

    @functools.cached_property
    def _ciphers(self) -> dict[str, AESGCM]:
        """One cipher per key, made once: every payload and blob passes through here."""
        return {key_id: AESGCM(key) for key_id, key in self.keys}

    @property
    def current(self) -> str:
        """The id of the key that encrypts."""
        return self.keys[-1][0]

    def encrypt(self, plaintext: bytes, associated: bytes = b"") -> tuple[str, bytes]:
        """(key id, nonce + ciphertext + tag)."""
        key_id = self.current
        nonce = os.urandom(NONCE_BYTES)
        return key_id, nonce + self._ciphers[key_id].encrypt(nonce, plaintext, associated)

    def decrypt(self, key_id: str, sealed: bytes | memoryview, associated: bytes = b"") -> bytes:
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise UnknownKey(f"sealed with key {key_id!r}, which this installation does not have")
        try:
            return cipher.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], associated)
        except InvalidTag:
            raise Tampered(f"does not decrypt with key {key_id!r}: changed or not ours") from None


def parse_key_ring(text: str) -> KeyRing:
    """`id:base64key[,id:base64key…]`, oldest first (the last encrypts); whitespace and
    newlines separate entries too, so a key file may hold one per line."""
    entries = [e for e in re.split(r"[,\s]+", text.strip()) if e]
    keys: list[tuple[str, bytes]] = []
    for number, entry in enumerate(entries, start=1):
        key_id, colon, encoded = entry.partition(":")
        if not colon:
            raise KeyRingError(f"entry {number}: expected id:base64key")
        try:
            key = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise KeyRingError(f"entry {number}: key not base64") from None
        keys.append((key_id, key))
    return KeyRing(tuple(keys))


def new_key_entry(key_id: str) -> str:
    """A fresh key as one `id:base64key` entry (what `mailroom keys new` prints)."""
    return f"{key_id}:{base64.b64encode(os.urandom(KEY_BYTES)).decode()}"
