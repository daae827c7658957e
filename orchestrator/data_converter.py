"""The data converter of every mailroom client and worker: the SDK's pydantic one, with its
JSON converter (and that converter's cache of pydantic TypeAdapters) made once per process.

The SDK makes a payload converter from the converter's class far more often than once: for
every workflow instance it creates (each thread started, continued-as-new or brought back
into the cache) and twice for every activation it handles (the command-aware converters of
temporalio.worker._workflow). `PydanticPayloadConverter()` builds a new JSON converter each
time, with an empty TypeAdapter cache, so each new instance built its adapters again. Here
each construction reuses the process's one JSON converter: the same bytes on the wire, the
same types read back (tests/unit/test_data_converter.py).
"""

from __future__ import annotations

from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultPayloadConverter,
    EncodingPayloadConverter,
    JSONPlainPayloadConverter,
)

# lru_cache, which holds its TypeAdapters, is thread-safe: workflows and activities run in
# the SDK's threads.
_JSON = PydanticJSONPlainPayloadConverter()
_CONVERTERS: tuple[EncodingPayloadConverter, ...] = tuple(
    _JSON if isinstance(c, JSONPlainPayloadConverter) else c
    for c in DefaultPayloadConverter.default_encoding_payload_converters
)


class SharedPydanticPayloadConverter(CompositePayloadConverter):
    """`PydanticPayloadConverter`'s converters, in its order, made once per process."""

    def __init__(self) -> None:
        super().__init__(*_CONVERTERS)


DATA_CONVERTER = DataConverter(payload_converter_class=SharedPydanticPayloadConverter)
