"""The sealed blob format (adapters/outbound/blob_sealing.py) is a promise to every blob
already stored: a blob sealed by this release opens with every later one."""

from __future__ import annotations

import pytest

from adapters.outbound.blob_sealing import MAGIC, BlobSealing, BlobUnreadable
from adapters.outbound.key_ring import KeyRing

SEALING = BlobSealing(KeyRing((("k0", bytes(range(32))),)), address_key=bytes(range(32, 64)))
# `SEALING.seal(b"hello, sealed world")` as version 1 stored it
ADDRESS = "e9d19834af334162e9cf26ae0ca3e4ff1f98cc20d09557fbf83e2a3b4640d671"
STORED = bytes.fromhex(
    "004d52424c4f4201026b307c27bbeba6fd34f98a76e8fa8b84cacf518fa6e1ec48bc7fbb9d1413b6f3c7502e"
    "69745177ae5042aa0d1c7f8decc1"
)


def test_a_blob_sealed_by_format_version_1_still_opens_under_its_address() -> None:
    assert SEALING.address(b"hello, sealed world") == ADDRESS
    assert SEALING.open(ADDRESS, STORED) == b"hello, sealed world"


def test_the_stored_bytes_begin_with_magic_version_and_key_id() -> None:
    ref, stored = SEALING.seal(b"hello, sealed world")
    assert stored[: len(MAGIC) + 4] == MAGIC + b"\x01\x02k0"
    assert len(stored) == len(MAGIC) + 4 + 12 + len(b"hello, sealed world") + 16
    assert ref.size == len(b"hello, sealed world")


def test_a_newer_format_version_is_refused_by_name() -> None:
    newer = MAGIC + b"\x02" + STORED[len(MAGIC) + 1 :]
    with pytest.raises(BlobUnreadable, match="format version 2"):
        SEALING.open(ADDRESS, newer)
