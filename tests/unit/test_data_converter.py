"""The process-wide data converter writes what the SDK's pydantic converter writes and reads
it back the same, while every converter the SDK makes from it shares one TypeAdapter cache."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from temporalio.contrib.pydantic import PydanticPayloadConverter, pydantic_data_converter
from temporalio.converter import (
    ActivitySerializationContext,
    DataConverter,
    WorkflowSerializationContext,
)

from adapters.outbound.key_ring import KeyRing
from adapters.outbound.payload_codec import EncryptionCodec
from orchestrator.data_converter import (
    BOUND_PARTS,
    DATA_CONVERTER,
    MAX_BOUND_WORKFLOWS,
    ContextBoundDataConverter,
    SharedPydanticPayloadConverter,
)
from use_cases.models import FlowConfig, NewMessage, ThreadInput


def mail() -> NewMessage:
    return NewMessage(
        mailbox="support@mailroom.local",
        message_id="<m1@example.com>",
        from_addr="customer@example.com",
        subject="Réponse: where is my order?",
        date=datetime(2026, 12, 5, tzinfo=UTC),
        received_at=datetime(2026, 12, 5, 0, 1, tzinfo=UTC),
        text="Hello,\nmy order has not arrived.",
    )


async def test_payloads_are_the_bytes_the_sdk_pydantic_converter_writes() -> None:
    values = [
        mail(),
        ThreadInput(thread_id="t-1", mailbox="support@mailroom.local", flow_config=FlowConfig()),
        "a summary — with a dash",
        None,
        {"n": 1},
    ]
    ours = await DATA_CONVERTER.encode(values)
    theirs = await pydantic_data_converter.encode(values)
    assert [(p.metadata, p.data) for p in ours] == [(p.metadata, p.data) for p in theirs]


async def test_a_mail_reads_back_as_the_model_it_was() -> None:
    payloads = await DATA_CONVERTER.encode([mail()])
    assert await DATA_CONVERTER.decode(payloads, [NewMessage]) == [mail()]


def test_converters_made_for_each_workflow_share_one_json_converter() -> None:
    first, second = SharedPydanticPayloadConverter(), SharedPydanticPayloadConverter()
    assert list(first.converters) == list(PydanticPayloadConverter().converters)
    assert first.converters[b"json/plain"] is second.converters[b"json/plain"]


class CountedPayloadConverter(SharedPydanticPayloadConverter):
    made = 0

    def __init__(self) -> None:
        super().__init__()
        CountedPayloadConverter.made += 1


async def test_a_converter_bound_to_a_workflow_is_the_sdks_binding_made_without_rebuilding() -> (
    None
):
    ring = KeyRing((("k1", bytes(32)),))
    converter = dataclasses.replace(
        ContextBoundDataConverter(payload_converter_class=CountedPayloadConverter),
        payload_codec=EncryptionCodec(ring),
    )
    context = WorkflowSerializationContext(namespace="default", workflow_id="thread-1")
    made = CountedPayloadConverter.made
    ours = converter.with_context(context)
    assert CountedPayloadConverter.made == made  # nothing built to be thrown away
    theirs = DataConverter.with_context(converter, context)  # the SDK's own way
    assert CountedPayloadConverter.made == made + 1
    assert type(ours) is ContextBoundDataConverter
    for part in BOUND_PARTS[:1] + BOUND_PARTS[2:]:
        assert getattr(ours, part) is getattr(converter, part) is getattr(theirs, part)
    assert isinstance(ours.payload_codec, EncryptionCodec)
    assert ours.payload_codec.workflow_id == "thread-1"
    sealed = await ours.encode([mail()])
    assert await theirs.decode(sealed, [NewMessage]) == [mail()]
    other = converter.with_context(WorkflowSerializationContext("default", "thread-2"))
    with pytest.raises(KeyError, match="refused"):  # sealed for thread-1: refused
        await other.decode(sealed, [NewMessage])
    plain = ContextBoundDataConverter(payload_converter_class=CountedPayloadConverter)
    assert plain.with_context(context) is plain  # nothing to bind: the converter itself


def test_a_workflows_binding_is_made_once_and_an_activitys_each_time() -> None:
    converter = dataclasses.replace(
        DATA_CONVERTER, payload_codec=EncryptionCodec(KeyRing((("k1", bytes(32)),)))
    )
    thread_1 = WorkflowSerializationContext(namespace="default", workflow_id="thread-1")
    first = converter.with_context(thread_1)
    again = converter.with_context(WorkflowSerializationContext("default", "thread-1"))
    other = converter.with_context(WorkflowSerializationContext("default", "thread-2"))
    assert again is first and other is not first
    assert isinstance(first.payload_codec, EncryptionCodec)
    assert first.payload_codec.workflow_id == "thread-1"
    assert isinstance(other.payload_codec, EncryptionCodec)
    assert other.payload_codec.workflow_id == "thread-2"
    # a bound copy keeps its own bindings: binding it does not answer for the converter
    rebound = first.with_context(WorkflowSerializationContext("default", "thread-3"))
    assert (
        converter.with_context(WorkflowSerializationContext("default", "thread-3")) is not rebound
    )
    activity = ActivitySerializationContext(
        namespace="default",
        workflow_id="thread-1",
        workflow_type="ThreadWorkflow",
        activity_type="answer_from_kb",
        activity_id="1",
        activity_task_queue="mailroom",
        is_local=True,
    )
    assert converter.with_context(activity) is not converter.with_context(activity)


def test_bindings_start_over_past_the_bound() -> None:
    converter = dataclasses.replace(
        DATA_CONVERTER, payload_codec=EncryptionCodec(KeyRing((("k1", bytes(32)),)))
    )
    first = converter.with_context(WorkflowSerializationContext("default", "thread-0"))
    for n in range(1, MAX_BOUND_WORKFLOWS + 1):
        converter.with_context(WorkflowSerializationContext("default", f"thread-{n}"))
    assert len(converter.__dict__["_by_workflow"]) <= MAX_BOUND_WORKFLOWS
    assert converter.with_context(WorkflowSerializationContext("default", "thread-0")) is not first
