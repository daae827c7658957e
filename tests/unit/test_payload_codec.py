"""What leaves the process is ciphertext that names its key; what comes back is the payload
as it was; a payload from before encryption passes through."""

from __future__ import annotations

from temporalio.api.common.v1 import Payload

from adapters.outbound.key_ring import new_key_entry, parse_key_ring
from adapters.outbound.payload_codec import ENCODING, KEY_ID, EncryptionCodec

MAIL = Payload(metadata={"encoding": b"json/plain"}, data=b'{"subject": "my salary"}')


async def test_a_payload_is_sealed_with_the_newest_key_and_opened_as_it_was() -> None:
    codec = EncryptionCodec(parse_key_ring(f"{new_key_entry('a')},{new_key_entry('b')}"))
    [sealed] = await codec.encode([MAIL])
    assert sealed.metadata["encoding"] == ENCODING and sealed.metadata[KEY_ID] == b"b"
    assert b"salary" not in sealed.SerializeToString()
    assert await codec.decode([sealed]) == [MAIL]


async def test_a_payload_written_before_encryption_passes_through() -> None:
    codec = EncryptionCodec(parse_key_ring(new_key_entry("a")))
    assert await codec.decode([MAIL]) == [MAIL]
