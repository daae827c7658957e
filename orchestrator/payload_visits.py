"""The worker's payload passes over each workflow activation and completion, skipped when
they have nothing to do and made one walk where the SDK makes three.

For every activation the SDK walks the whole activation three times and its completion three
times (temporalio.bridge.worker.decode_activation / encode_completion): for external-storage
references, external storage and the payload codec. A data converter with neither (the
time-skipping tests', mailroom's before payload encryption) has each walk hand every payload
list to a function that returns it unchanged, and the walk then copies the list back anyway.
Measured: ~77 µs of CPU per activation with one signal carrying a 1.5 KB mail (and more with
several jobs), some 5 % of the worker's CPU per support mail. With no codec and no external
storage the payloads are left as they are: the same bytes reach the workflow and the server.

With a codec and no external storage (mailroom's own converter, which seals payloads:
orchestrator/bootstrap.py data_converter, issue 22) two of each three walks do nothing but,
decoding, look for external-storage references: the three steps the SDK applies in three
walks are applied in one, in the SDK's order, to each payload list the walk visits (the same
visitor, the same command context for each list). A reference payload fails the activation
as before; where another list's payload fails to open first, with that error instead. Only
where the SDK's functions apply exactly these steps (`one_walk_known`, read from their source),
and a converter with external storage gets the SDK's passes unchanged.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Sequence
from functools import cache
from typing import Any

import temporalio.bridge.worker
from temporalio.api.common.v1 import Payload
from temporalio.converter import DataConverter

try:
    from temporalio.worker._command_aware_visitor import CommandAwarePayloadVisitor
except ImportError:  # another SDK layout: nothing is installed (sdk_layout_known)
    CommandAwarePayloadVisitor = None  # type: ignore[assignment,misc]

try:
    from temporalio.converter._extstore import StorageOperationMetrics
except ImportError:  # another SDK layout: nothing is installed (sdk_layout_known)
    StorageOperationMetrics = None  # type: ignore[assignment,misc]

# The SDK's private functions this replaces (temporalio 1.35's layout). Another layout (an
# SDK upgrade: pyproject allows any 1.x) keeps the SDK's passes instead of failing the
# worker: `skip_idle_payload_passes` installs nothing then, and test_payload_visits fails.
_SDK_DECODE = getattr(temporalio.bridge.worker, "decode_activation", None)
_SDK_ENCODE = getattr(temporalio.bridge.worker, "encode_completion", None)
_SDK_VISITOR_FUNCTIONS = getattr(temporalio.bridge.worker, "_Visitor", None)
_EXPECTED = (
    ["activation", "data_converter", "decode_headers", "storage_concurrency_limit"],
    ["completion", "data_converter", "encode_headers", "storage_concurrency_limit"],
)
# The DataConverter methods the SDK's walks apply, in its order (temporalio 1.35).
_DECODE_STEPS = (
    "_decode_reference_payload_sequence",
    "_external_retrieve_payload_sequence",
    "_decode_payload_sequence",
)
_ENCODE_STEPS = (
    "_encode_payload_sequence",
    "_external_store_payload_sequence",
    "_encode_reference_payload_sequence",
)
PayloadSteps = Callable[[Sequence[Payload]], Awaitable[list[Payload]]]


def passes_needed(data_converter: DataConverter) -> bool:
    """Whether a pass over the payloads could change any: a codec or external storage."""
    return data_converter.payload_codec is not None or data_converter.external_storage is not None


def _sdk_steps(sdk: Any) -> tuple[str, ...]:
    """The converter steps an SDK pass function applies, in its order, read from its source
    (an SDK that adds, drops or reorders a step gets its own passes back)."""
    try:
        source = inspect.getsource(sdk)
    except (OSError, TypeError):
        return ()
    return tuple(re.findall(r"data_converter\.(_\w+_payload_sequence)", source))


@cache
def one_walk_known() -> bool:
    """The SDK's passes apply the steps this module applies in one walk (read once, at the
    first activation: no I/O at import)."""
    return _sdk_steps(_SDK_DECODE) == _DECODE_STEPS and _sdk_steps(_SDK_ENCODE) == _ENCODE_STEPS


def one_walk_will_do(data_converter: DataConverter) -> bool:
    """Whether the SDK's three walks can be one: without external storage each list's three
    steps depend on that list alone."""
    return data_converter.external_storage is None and one_walk_known()


def in_turn(data_converter: DataConverter, steps: tuple[str, ...]) -> PayloadSteps:
    """The converter's `steps` applied to a payload list one after the other, as the SDK's
    walks apply them one walk after the other."""
    bound = [getattr(data_converter, step) for step in steps]

    async def apply(payloads: Sequence[Payload]) -> list[Payload]:
        result = list(payloads)
        for step in bound:
            result = await step(result)
        return result

    return apply


async def walk(message: Any, steps: PayloadSteps, *, headers: bool) -> None:
    """One walk of the SDK's command-aware visitor over `message`, as each of its passes does
    (search attributes skipped, headers only where the worker encodes them)."""
    assert CommandAwarePayloadVisitor is not None and _SDK_VISITOR_FUNCTIONS is not None
    visitor = CommandAwarePayloadVisitor(skip_search_attributes=True, skip_headers=not headers)
    await visitor.visit(_SDK_VISITOR_FUNCTIONS(steps), message)


async def decode_activation(
    activation: Any,
    data_converter: DataConverter,
    decode_headers: bool,
    storage_concurrency_limit: int,
) -> StorageOperationMetrics:
    if not passes_needed(data_converter):
        return StorageOperationMetrics()
    if one_walk_will_do(data_converter):
        steps = in_turn(data_converter, _DECODE_STEPS)
        await walk(activation, steps, headers=decode_headers)
        return StorageOperationMetrics()
    assert _SDK_DECODE is not None  # installed only when the SDK has it
    result: StorageOperationMetrics = await _SDK_DECODE(
        activation, data_converter, decode_headers, storage_concurrency_limit
    )
    return result


async def encode_completion(
    completion: Any,
    data_converter: DataConverter,
    encode_headers: bool,
    storage_concurrency_limit: int,
) -> StorageOperationMetrics:
    if not passes_needed(data_converter):
        return StorageOperationMetrics()
    if one_walk_will_do(data_converter):
        await walk(completion, in_turn(data_converter, _ENCODE_STEPS), headers=encode_headers)
        return StorageOperationMetrics()
    assert _SDK_ENCODE is not None  # installed only when the SDK has it
    result: StorageOperationMetrics = await _SDK_ENCODE(
        completion, data_converter, encode_headers, storage_concurrency_limit
    )
    return result


def skip_idle_payload_passes() -> None:
    """Install the two above where the SDK's workflow worker calls them (idempotent). The
    SDK looks them up on temporalio.bridge.worker at each activation. Nothing is installed
    where the SDK's functions are not the ones this was written for."""
    if not sdk_layout_known():
        return
    temporalio.bridge.worker.decode_activation = decode_activation
    temporalio.bridge.worker.encode_completion = encode_completion


def sdk_layout_known() -> bool:
    """The SDK's two functions exist and take the arguments this was written for, and the
    visitor and converter steps that one walk uses are where they were."""
    if None in (StorageOperationMetrics, CommandAwarePayloadVisitor, _SDK_VISITOR_FUNCTIONS):
        return False
    if not all(callable(getattr(DataConverter, step, None)) for step in _DECODE_STEPS):
        return False
    if not all(callable(getattr(DataConverter, step, None)) for step in _ENCODE_STEPS):
        return False
    for sdk, expected in zip((_SDK_DECODE, _SDK_ENCODE), _EXPECTED, strict=True):
        if sdk is None or not inspect.iscoroutinefunction(sdk):
            return False
        if list(inspect.signature(sdk).parameters) != expected:
            return False
    return True
