"""The process-wide data converter writes what the SDK's pydantic converter writes and reads
it back the same, while every converter the SDK makes from it shares one TypeAdapter cache."""

from __future__ import annotations

from datetime import UTC, datetime

from temporalio.contrib.pydantic import PydanticPayloadConverter, pydantic_data_converter

from orchestrator.data_converter import DATA_CONVERTER, SharedPydanticPayloadConverter
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
