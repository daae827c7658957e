"""What leaves the process is ciphertext that names its key; what comes back is the payload
as it was; a plain payload (from before encryption, or forged without the key) passes
through only where it is allowed to."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.converter import ActivitySerializationContext, WorkflowSerializationContext

from adapters.outbound.key_ring import Tampered, new_key_entry, parse_key_ring
from adapters.outbound.payload_codec import BOUND_TO, ENCODING, KEY_ID, REFUSED, EncryptionCodec
from orchestrator.bootstrap import data_converter
from orchestrator.data_converter import DATA_CONVERTER
from orchestrator.settings import Settings

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


async def test_mailroom_s_converter_refuses_a_plain_payload_unless_told_to_accept_it() -> None:
    refusing = EncryptionCodec(parse_key_ring(new_key_entry("a")), accept_plaintext=False)
    [refused] = await refusing.decode([MAIL])
    assert refused.metadata["encoding"] == REFUSED and b"salary" not in refused.data
    with pytest.raises(KeyError, match="Unknown payload encoding"):
        DATA_CONVERTER.payload_converter.from_payload(refused)
    [sealed] = await refusing.encode([MAIL])
    assert await refusing.decode([sealed]) == [MAIL]


def test_mailroom_refuses_plain_payloads_by_default(tmp_path: Path) -> None:
    def codec(settings: Settings) -> EncryptionCodec:
        found = data_converter(settings).payload_codec
        assert isinstance(found, EncryptionCodec)
        return found

    assert not codec(Settings(data_dir=tmp_path)).accept_plaintext
    assert codec(Settings(data_dir=tmp_path, accept_plaintext_payloads=True)).accept_plaintext


def for_workflow(codec: EncryptionCodec, workflow_id: str) -> EncryptionCodec:
    return codec.with_context(WorkflowSerializationContext("default", workflow_id))


@pytest.mark.parametrize(
    ("sealed_for", "opened_in", "taken"),
    [
        ("thread-a-1", "thread-a-1", True),
        ("thread-a-1", "thread-b-2", False),  # copied into another thread's history
        ("thread-a-1", "thread-a-1-procurement-1", False),  # into the thread's own child
        ("mailroom-purge", "mailroom-purge-2026-12-05T03:00:00Z", True),  # a scheduled run
        ("mailroom-purge", "mailroom-purge-again", False),
    ],
)
async def test_a_payload_opens_only_in_the_workflow_it_was_sealed_for(
    sealed_for: str, opened_in: str, taken: bool
) -> None:
    codec = EncryptionCodec(parse_key_ring(new_key_entry("a")), accept_plaintext=False)
    [sealed] = await for_workflow(codec, sealed_for).encode([MAIL])
    assert sealed.metadata[BOUND_TO] == sealed_for.encode()
    [opened] = await for_workflow(codec, opened_in).decode([sealed])
    assert (opened == MAIL) is taken and (opened.metadata["encoding"] == REFUSED) is not taken
    assert await codec.decode([sealed]) == [MAIL]  # no context (the codec server): its own name


async def test_a_payload_whose_workflow_name_was_changed_does_not_open() -> None:
    codec = EncryptionCodec(parse_key_ring(new_key_entry("a")))
    [sealed] = await for_workflow(codec, "thread-a-1").encode([MAIL])
    sealed.metadata[BOUND_TO] = b"thread-b-2"
    with pytest.raises(Tampered):
        await for_workflow(codec, "thread-b-2").decode([sealed])


async def test_an_activity_s_payload_is_bound_to_the_workflow_it_runs_for() -> None:
    codec = EncryptionCodec(parse_key_ring(new_key_entry("a")))
    context = ActivitySerializationContext(
        "default", "1", "send", "q", workflow_id="thread-a-1", workflow_type="T", is_local=False
    )
    [sealed] = await codec.with_context(context).encode([MAIL])
    assert sealed.metadata[BOUND_TO] == b"thread-a-1"
