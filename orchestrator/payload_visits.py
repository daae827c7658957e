"""The worker's payload passes over each workflow activation and completion, skipped when
they have nothing to do.

For every activation the SDK walks the whole activation three times and its completion twice
(temporalio.bridge.worker.decode_activation / encode_completion): for external-storage
references, external storage and the payload codec. mailroom's data converter has neither
a codec nor external storage, so each walk hands every payload list to a function that
returns it unchanged, and the walk then copies the list back into the message anyway.
Measured: ~77 µs of CPU per activation with one signal carrying a 1.5 KB mail (and more with
several jobs), some 5 % of the worker's CPU per support mail. With no codec and no external
storage the payloads are left as they are: the same bytes reach the workflow and the server.

A converter with a codec or external storage (none today) gets the SDK's passes unchanged.
"""

from __future__ import annotations

from typing import Any

import temporalio.bridge.worker
from temporalio.converter import DataConverter
from temporalio.converter._extstore import StorageOperationMetrics

_SDK_DECODE = temporalio.bridge.worker.decode_activation
_SDK_ENCODE = temporalio.bridge.worker.encode_completion


def passes_needed(data_converter: DataConverter) -> bool:
    """Whether a pass over the payloads could change any: a codec or external storage."""
    return data_converter.payload_codec is not None or data_converter.external_storage is not None


async def decode_activation(
    activation: Any, data_converter: DataConverter, *args: Any, **kwargs: Any
) -> StorageOperationMetrics:
    if passes_needed(data_converter):
        return await _SDK_DECODE(activation, data_converter, *args, **kwargs)
    return StorageOperationMetrics()


async def encode_completion(
    completion: Any, data_converter: DataConverter, *args: Any, **kwargs: Any
) -> StorageOperationMetrics:
    if passes_needed(data_converter):
        return await _SDK_ENCODE(completion, data_converter, *args, **kwargs)
    return StorageOperationMetrics()


def skip_idle_payload_passes() -> None:
    """Install the two above where the SDK's workflow worker calls them (idempotent). The
    SDK looks them up on temporalio.bridge.worker at each activation."""
    temporalio.bridge.worker.decode_activation = decode_activation
    temporalio.bridge.worker.encode_completion = encode_completion
