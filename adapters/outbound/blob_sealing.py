"""Blobs sealed at rest (issue 22): raw mail and attachments are stored encrypted with the
installation's key ring (AES-256-GCM), under an address that is a keyed hash of the content.

A plain sha256 as a blob's name would say what it holds to anyone who can list `blobs/` or
the `blobs` table: hash a known mail or attachment and look for the name. The address is
HMAC-SHA256 under a key of the installation's own (not an encryption key: rotating those
must not move blobs), so the same bytes still get the same address and are stored once.

Stored bytes (version 1): MAGIC (7 bytes) + version (1 byte) + key id length (1 byte) + key
id (ASCII) + nonce (12) + ciphertext + tag (16). The associated data is the blob's address
and that header, so a sealed blob copied under another address, or its header edited, does
not open. Blobs an older mailroom stored are plain bytes named by their sha256: they are
read as they are, and only when their bytes still hash to their name; anything else fails
with BlobUnreadable, never as garbage.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from adapters.outbound.key_ring import KeyRing, UnknownKey
from use_cases.mail import BlobRef

RAW_MESSAGE = b"mailroom raw message "  # keys a Message-ID apart from any blob's bytes
MAGIC = b"\x00MRBLOB"  # a NUL first: no mail (text) starts so; an attachment is told apart below
VERSION = 1
ASSOCIATED_PREFIX = b"mailroom blob "


class BlobUnreadable(RuntimeError):
    """A stored blob that does not open: changed on disk or in the database, swapped for
    another, or sealed with a key this installation does not have. Said in one line."""


@dataclass(frozen=True)
class BlobSealing:
    """`keys` seal and open blobs; `address_key` names them (HMAC-SHA256)."""

    keys: KeyRing
    address_key: bytes

    def address(self, data: bytes) -> str:
        return hmac.new(self.address_key, data, hashlib.sha256).hexdigest()

    def message_key(self, message_id: str) -> str:
        """The name of a received mail's raw pointer: keyed as addresses are, or anyone
        who has the mail (its sender, each recipient) would hash its Message-ID and learn
        from `blobs/raw/` or `raw_messages` that it was received here."""
        named = RAW_MESSAGE + message_id.encode("utf-8", "replace")
        return hmac.new(self.address_key, named, hashlib.sha256).hexdigest()

    def seal(self, data: bytes) -> tuple[BlobRef, bytes]:
        """The blob's reference (its address, the plaintext's size) and the bytes to store."""
        ref = BlobRef(sha256=self.address(data), size=len(data))
        key_id = self.keys.current
        header = MAGIC + bytes([VERSION, len(key_id)]) + key_id.encode("ascii")
        _, sealed = self.keys.encrypt(data, _associated(ref.sha256, header))
        return ref, header + sealed

    def open(self, address: str, stored: bytes) -> bytes:
        """The plaintext of the blob stored at `address`; raise BlobUnreadable."""
        if not stored.startswith(MAGIC):
            return plain(address, stored)
        try:
            return self._decrypt(address, stored)
        except BlobUnreadable:
            if is_plain(address, stored):  # an old plain attachment that starts like ours
                return stored
            raise

    def _decrypt(self, address: str, stored: bytes) -> bytes:
        if len(stored) < len(MAGIC) + 2:
            raise BlobUnreadable(f"blob {address}: cut short")
        version, id_length = stored[len(MAGIC) : len(MAGIC) + 2]
        if version != VERSION:
            raise BlobUnreadable(f"blob {address}: format version {version}, not one this reads")
        header_length = len(MAGIC) + 2 + id_length
        key_id = stored[len(MAGIC) + 2 : header_length].decode("ascii", "replace")
        sealed = memoryview(stored)[header_length:]  # not a copy: a mail may be 25 MB
        try:
            return self.keys.decrypt(key_id, sealed, _associated(address, stored[:header_length]))
        except UnknownKey as exc:
            raise BlobUnreadable(f"blob {address}: {exc}") from None
        except ValueError:  # KeyRingError (the tag), or a nonce cut short
            raise BlobUnreadable(
                f"blob {address}: does not decrypt: changed, or stored under another address"
            ) from None


def plain(address: str, stored: bytes) -> bytes:
    """A blob stored before blobs were sealed (its name the sha256 of its bytes)."""
    if is_plain(address, stored):
        return stored
    raise BlobUnreadable(
        f"blob {address}: neither sealed by mailroom nor the bytes its name was made from: "
        "changed on disk or in the database"
    )


def is_plain(address: str, stored: bytes) -> bool:
    return hmac.compare_digest(hashlib.sha256(stored).hexdigest(), address)


def unsealed(data: bytes) -> tuple[BlobRef, bytes]:
    """A store given no keys (tests, tools): the plain sha256 address and bytes, as before."""
    return BlobRef(sha256=hashlib.sha256(data).hexdigest(), size=len(data)), data


def open_unsealed(address: str, stored: bytes) -> bytes:
    """What a store given no keys reads: the bytes as stored, unless they are sealed."""
    if stored.startswith(MAGIC) and not is_plain(address, stored):
        raise BlobUnreadable(f"blob {address}: sealed, and this store was given no keys")
    return stored


def _associated(address: str, header: bytes) -> bytes:
    return ASSOCIATED_PREFIX + address.encode("ascii", "replace") + b" " + header


def address_with(sealing: BlobSealing | None, data: bytes) -> str:
    return hashlib.sha256(data).hexdigest() if sealing is None else sealing.address(data)


def plain_message_key(message_id: str) -> str:
    """A raw pointer's name as a store given no keys, and mailroom before, made it."""
    return hashlib.sha256(message_id.encode("utf-8", "replace")).hexdigest()


def message_key_with(sealing: BlobSealing | None, message_id: str) -> str:
    """The name a raw pointer is written under (any Message-ID, NUL included, in 64 hex)."""
    return plain_message_key(message_id) if sealing is None else sealing.message_key(message_id)


def message_keys_with(sealing: BlobSealing | None, message_id: str) -> list[str]:
    """The names a raw pointer is looked for under: the one written now, then the plain one
    a mailroom before keyed names wrote (read until retention removes it)."""
    return list(
        dict.fromkeys([message_key_with(sealing, message_id), plain_message_key(message_id)])
    )


def seal_with(sealing: BlobSealing | None, data: bytes) -> tuple[BlobRef, bytes]:
    return unsealed(data) if sealing is None else sealing.seal(data)


def open_with(sealing: BlobSealing | None, address: str, stored: bytes) -> bytes:
    return open_unsealed(address, stored) if sealing is None else sealing.open(address, stored)
