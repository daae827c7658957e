"""The worker skips the SDK's payload passes only where they change nothing, and walks once
where the SDK walks three times: workflows get the same payloads, the server the same
completion, and a codec still runs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
import temporalio.bridge.worker
from temporalio.api.common.v1 import Payload
from temporalio.bridge.proto.workflow_activation import WorkflowActivation
from temporalio.bridge.proto.workflow_completion import WorkflowActivationCompletion
from temporalio.converter import DataConverter, PayloadCodec
from temporalio.converter._extstore import _REFERENCE_MARKER_KEY as REFERENCE_MARKER
from temporalio.worker._command_aware_visitor import CommandInfo, current_command_info

import orchestrator.workflow_runner  # noqa: F401  (installs the skip, as every worker does)
from adapters.outbound.key_ring import KeyRing
from orchestrator.bootstrap import sealing_converter
from orchestrator.data_converter import DATA_CONVERTER
from orchestrator.payload_visits import (
    _SDK_DECODE,
    _SDK_ENCODE,
    decode_activation,
    encode_completion,
    one_walk_known,
)
from use_cases.models import NewMessage

MAIL = NewMessage(
    mailbox="support@example.com",
    message_id="<m1@example.com>",
    received_at=datetime(2026, 12, 5, tzinfo=UTC),
    text="Where is my order?\n" * 80,
)


async def signal_activation(converter: DataConverter) -> WorkflowActivation:
    activation = WorkflowActivation(run_id="run")
    job = activation.jobs.add()
    job.signal_workflow.signal_name = "new_message"
    job.signal_workflow.input.extend(await converter.encode([MAIL]))
    return activation


async def activity_completion(converter: DataConverter) -> WorkflowActivationCompletion:
    completion = WorkflowActivationCompletion(run_id="run")
    command = completion.successful.commands.add()
    command.schedule_local_activity.activity_type = "answer_from_kb"
    command.schedule_local_activity.arguments.extend(await converter.encode([MAIL]))
    return completion


class ReversingCodec(PayloadCodec):
    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [Payload(metadata=p.metadata, data=p.data[::-1]) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [Payload(metadata=p.metadata, data=p.data[::-1]) for p in payloads]


async def test_every_worker_uses_the_skipping_passes() -> None:
    # fails after an SDK upgrade that moved the functions or changed their steps: the worker
    # then keeps the SDK's passes (payload_visits.sdk_layout_known, one_walk_known), slower
    # but right
    assert temporalio.bridge.worker.decode_activation is decode_activation
    assert temporalio.bridge.worker.encode_completion is encode_completion
    assert one_walk_known()


async def test_a_workflow_reads_the_same_mail_as_through_the_sdks_passes() -> None:
    ours, sdks = await signal_activation(DATA_CONVERTER), await signal_activation(DATA_CONVERTER)
    await decode_activation(ours, DATA_CONVERTER, True, 1)
    assert _SDK_DECODE is not None
    await _SDK_DECODE(sdks, DATA_CONVERTER, True, 1)
    assert ours.SerializeToString(deterministic=True) == sdks.SerializeToString(deterministic=True)
    decoded = await DATA_CONVERTER.decode(ours.jobs[0].signal_workflow.input, [NewMessage])
    assert decoded == [MAIL]


async def test_the_server_gets_the_same_completion_as_through_the_sdks_passes() -> None:
    ours = await activity_completion(DATA_CONVERTER)
    sdks = await activity_completion(DATA_CONVERTER)
    await encode_completion(ours, DATA_CONVERTER, True, 1)
    assert _SDK_ENCODE is not None
    await _SDK_ENCODE(sdks, DATA_CONVERTER, True, 1)
    assert ours.SerializeToString(deterministic=True) == sdks.SerializeToString(deterministic=True)


async def test_a_codec_still_decodes_and_encodes_every_payload() -> None:
    with_codec = DataConverter(
        payload_converter_class=DATA_CONVERTER.payload_converter_class,
        payload_codec=ReversingCodec(),
    )
    activation = await signal_activation(with_codec)  # encoded: the codec reversed it
    await decode_activation(activation, with_codec, True, 1)
    decoded = await DATA_CONVERTER.decode(activation.jobs[0].signal_workflow.input, [NewMessage])
    assert decoded == [MAIL]

    completion = await activity_completion(DATA_CONVERTER)
    plain = bytes(completion.successful.commands[0].schedule_local_activity.arguments[0].data)
    await encode_completion(completion, with_codec, True, 1)
    encoded = completion.successful.commands[0].schedule_local_activity.arguments[0].data
    assert encoded == plain[::-1]


def reversing_converter() -> DataConverter:
    return DataConverter(
        payload_converter_class=DATA_CONVERTER.payload_converter_class,
        payload_codec=ReversingCodec(),
    )


async def test_one_walk_with_a_codec_gives_what_the_sdks_three_give(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    converter = reversing_converter()
    ours, sdks = await signal_activation(converter), await signal_activation(converter)
    ours_done = await activity_completion(DATA_CONVERTER)
    sdks_done = await activity_completion(DATA_CONVERTER)
    assert _SDK_DECODE is not None and _SDK_ENCODE is not None
    await _SDK_DECODE(sdks, converter, True, 1)
    await _SDK_ENCODE(sdks_done, converter, True, 1)
    monkeypatch.setattr("orchestrator.payload_visits._SDK_ENCODE", None)  # no fallback
    monkeypatch.setattr("orchestrator.payload_visits._SDK_DECODE", None)
    await decode_activation(ours, converter, True, 1)
    assert ours.SerializeToString(deterministic=True) == sdks.SerializeToString(deterministic=True)

    await encode_completion(ours_done, converter, True, 1)
    assert ours_done.SerializeToString(deterministic=True) == sdks_done.SerializeToString(
        deterministic=True
    )


async def test_the_sealing_converter_opens_in_one_walk_what_it_sealed() -> None:
    sealing = sealing_converter(KeyRing((("k1", bytes(range(32))),)), accept_plaintext=False)
    activation = await signal_activation(sealing)
    sealed = activation.jobs[0].signal_workflow.input[0]
    assert sealed.metadata["encoding"] == b"binary/encrypted"
    await decode_activation(activation, sealing, True, 1)
    decoded = await DATA_CONVERTER.decode(activation.jobs[0].signal_workflow.input, [NewMessage])
    assert decoded == [MAIL]


async def test_an_external_storage_reference_fails_as_in_the_sdks_passes() -> None:
    converter = reversing_converter()
    activation = WorkflowActivation(run_id="run")
    job = activation.jobs.add()
    job.signal_workflow.signal_name = "new_message"
    job.signal_workflow.input.add(metadata={REFERENCE_MARKER: b"true"}, data=b"ref")
    with pytest.raises(RuntimeError, match="TMPRL1105"):
        await decode_activation(activation, converter, True, 1)


class RecordingCodec(ReversingCodec):
    """Reverses, and notes the command each call was made for and what it was given."""

    def __init__(self) -> None:
        self.calls: list[tuple[CommandInfo | None, list[bytes]]] = []

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        self.calls.append((current_command_info.get(), [bytes(p.data) for p in payloads]))
        return await super().encode(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        self.calls.append((current_command_info.get(), [bytes(p.data) for p in payloads]))
        return await super().decode(payloads)


async def commands_completion(converter: DataConverter) -> WorkflowActivationCompletion:
    completion = WorkflowActivationCompletion(run_id="run")
    activity = completion.successful.commands.add().schedule_activity
    activity.seq = 5
    activity.arguments.extend(await converter.encode([MAIL, "second"]))
    activity.headers["h"].CopyFrom((await converter.encode(["header"]))[0])
    child = completion.successful.commands.add().start_child_workflow_execution
    child.seq = 6
    child.input.extend(await converter.encode([MAIL]))
    done = completion.successful.commands.add().complete_workflow_execution
    done.result.CopyFrom((await converter.encode(["done"]))[0])
    return completion


async def jobs_activation(converter: DataConverter) -> WorkflowActivation:
    activation = await signal_activation(converter)
    resolved = activation.jobs.add().resolve_activity
    resolved.seq = 7
    resolved.result.completed.result.CopyFrom((await converter.encode(["answer"]))[0])
    activation.jobs[0].signal_workflow.headers["h"].CopyFrom((await converter.encode(["x"]))[0])
    return activation


@pytest.mark.parametrize("headers", [True, False])
async def test_each_codec_call_has_the_command_and_payloads_the_sdks_passes_give_it(
    headers: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    ours_codec, sdks_codec = RecordingCodec(), RecordingCodec()
    ours_converter = DataConverter(payload_codec=ours_codec)
    sdks_converter = DataConverter(payload_codec=sdks_codec)
    assert _SDK_DECODE is not None and _SDK_ENCODE is not None
    ours_done, sdks_done = (
        await commands_completion(DATA_CONVERTER),
        await commands_completion(DATA_CONVERTER),
    )
    ours_act = await jobs_activation(DATA_CONVERTER)
    sdks_act = await jobs_activation(DATA_CONVERTER)
    await _SDK_ENCODE(sdks_done, sdks_converter, headers, 1)
    await _SDK_DECODE(sdks_act, sdks_converter, headers, 1)
    # ours must not fall back on the SDK's passes: the one walk is what is compared
    monkeypatch.setattr("orchestrator.payload_visits._SDK_ENCODE", None)
    monkeypatch.setattr("orchestrator.payload_visits._SDK_DECODE", None)
    await encode_completion(ours_done, ours_converter, headers, 1)
    await decode_activation(ours_act, ours_converter, headers, 1)
    assert ours_codec.calls == sdks_codec.calls
    # the commands' and the resolved activity's own contexts, not just the workflow's
    assert {info.command_seq for info, _ in ours_codec.calls if info is not None} >= {5, 6, 7}
    for ours, sdks in ((ours_done, sdks_done), (ours_act, sdks_act)):
        assert ours.SerializeToString(deterministic=True) == sdks.SerializeToString(
            deterministic=True
        )
