"""The worker's payload passes over each workflow activation and completion, skipped when
they have nothing to do.

For every activation the SDK walks the whole activation three times and its completion twice
(temporalio.bridge.worker.decode_activation / encode_completion): for external-storage
references, external storage and the payload codec. A data converter with neither (the
time-skipping tests', mailroom's before payload encryption) has each walk hand every payload
list to a function that returns it unchanged, and the walk then copies the list back anyway.
Measured: ~77 µs of CPU per activation with one signal carrying a 1.5 KB mail (and more with
several jobs), some 5 % of the worker's CPU per support mail. With no codec and no external
storage the payloads are left as they are: the same bytes reach the workflow and the server.

A converter with a codec or external storage gets the SDK's passes unchanged: mailroom's
own, which seals payloads (orchestrator/bootstrap.py data_converter, issue 22).
"""

from __future__ import annotations

import inspect
from typing import Any

import temporalio.bridge.worker
from temporalio.converter import DataConverter

try:
    from temporalio.converter._extstore import StorageOperationMetrics
except ImportError:  # another SDK layout: nothing is installed (sdk_layout_known)
    StorageOperationMetrics = None  # type: ignore[assignment,misc]

# The SDK's private functions this replaces (temporalio 1.35's layout). Another layout (an
# SDK upgrade: pyproject allows any 1.x) keeps the SDK's passes instead of failing the
# worker: `skip_idle_payload_passes` installs nothing then, and test_payload_visits fails.
_SDK_DECODE = getattr(temporalio.bridge.worker, "decode_activation", None)
_SDK_ENCODE = getattr(temporalio.bridge.worker, "encode_completion", None)
_EXPECTED = ["activation", "data_converter"], ["completion", "data_converter"]


def passes_needed(data_converter: DataConverter) -> bool:
    """Whether a pass over the payloads could change any: a codec or external storage."""
    return data_converter.payload_codec is not None or data_converter.external_storage is not None


async def decode_activation(
    activation: Any, data_converter: DataConverter, *args: Any, **kwargs: Any
) -> StorageOperationMetrics:
    if passes_needed(data_converter):
        assert _SDK_DECODE is not None  # installed only when the SDK has it
        result: StorageOperationMetrics = await _SDK_DECODE(
            activation, data_converter, *args, **kwargs
        )
        return result
    return StorageOperationMetrics()


async def encode_completion(
    completion: Any, data_converter: DataConverter, *args: Any, **kwargs: Any
) -> StorageOperationMetrics:
    if passes_needed(data_converter):
        assert _SDK_ENCODE is not None  # installed only when the SDK has it
        result: StorageOperationMetrics = await _SDK_ENCODE(
            completion, data_converter, *args, **kwargs
        )
        return result
    return StorageOperationMetrics()


def skip_idle_payload_passes() -> None:
    """Install the two above where the SDK's workflow worker calls them (idempotent). The
    SDK looks them up on temporalio.bridge.worker at each activation. Nothing is installed
    where the SDK's functions are not the ones this was written for."""
    if not sdk_layout_known():
        return
    temporalio.bridge.worker.decode_activation = decode_activation
    temporalio.bridge.worker.encode_completion = encode_completion


def sdk_layout_known() -> bool:
    """The SDK's two functions exist and take (activation|completion, data_converter, …)."""
    if StorageOperationMetrics is None:
        return False
    for sdk, expected in zip((_SDK_DECODE, _SDK_ENCODE), _EXPECTED, strict=True):
        if sdk is None or not inspect.iscoroutinefunction(sdk):
            return False
        if list(inspect.signature(sdk).parameters)[:2] != expected:
            return False
    return True
