"""The data converter of every mailroom client and worker: the SDK's pydantic one, with its
JSON converter (and that converter's cache of pydantic TypeAdapters) made once per process.

The SDK makes a payload converter from the converter's class far more often than once: for
every workflow instance it creates (each thread started, continued-as-new or brought back
into the cache) and twice for every activation it handles (the command-aware converters of
temporalio.worker._workflow). `PydanticPayloadConverter()` builds a new JSON converter each
time, with an empty TypeAdapter cache, so each new instance built its adapters again. Here
each construction reuses the process's one JSON converter: the same bytes on the wire, the
same types read back (tests/unit/test_data_converter.py).

The SDK also asks the converter for a copy bound to each workflow or activity (its
`with_context`: our codec binds payloads to their workflow) several times per activation and
per client call, and made each copy with `dataclasses.replace`, which runs the converter's
`__post_init__`: a new payload converter and failure converter, thrown away at once for the
ones the copy then takes over. `ContextBoundDataConverter` copies without constructing, and
keeps the copy bound to each workflow: the SDK binds the worker's converter to the same
thread for every activation of it (to open the activation, to seal its completion).
"""

from __future__ import annotations

import copy
from typing import Self

from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultPayloadConverter,
    EncodingPayloadConverter,
    JSONPlainPayloadConverter,
    SerializationContext,
    WithSerializationContext,
    WorkflowSerializationContext,
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


# The parts of a DataConverter that a serialization context may bind (the SDK's own list in
# `DataConverter.with_context`).
BOUND_PARTS = ("payload_converter", "payload_codec", "failure_converter", "external_storage")


# Copies bound to a workflow kept by one converter (a process's client and its worker share
# it): more threads than this busy at once start it over, each binding made anew as before
# (a worker caches MAILROOM_MAX_CACHED_WORKFLOWS, 1 000 by default); a few KB each.
MAX_BOUND_WORKFLOWS = 1024


class ContextBoundDataConverter(DataConverter):
    """A DataConverter whose `with_context` gives what the SDK's gives (each part bound to
    the context, the converter itself when none changed) without building and discarding a
    payload converter and a failure converter each time, and once per workflow: a context
    bound to an activity (one per activity run) is bound anew each time."""

    def with_context(self, context: SerializationContext) -> Self:
        if type(context) is not WorkflowSerializationContext:
            return self._bound_to(context)
        # Not a dataclass field: dataclasses.replace leaves it behind, _bound_to's copy drops it.
        by_workflow: dict[WorkflowSerializationContext, Self] = self.__dict__.setdefault(
            "_by_workflow", {}
        )
        found = by_workflow.get(context)
        if found is None:
            if len(by_workflow) >= MAX_BOUND_WORKFLOWS:
                by_workflow.clear()
            found = by_workflow[context] = self._bound_to(context)
        return found

    def _bound_to(self, context: SerializationContext) -> Self:
        bound = {}
        for name in BOUND_PARTS:
            part = getattr(self, name)
            if isinstance(part, WithSerializationContext):
                bound_part = part.with_context(context)
                if bound_part is not part:
                    bound[name] = bound_part
        if not bound:
            return self
        cloned = copy.copy(self)  # the fields as they are: no __init__, no __post_init__
        cloned.__dict__.pop("_by_workflow", None)  # its own bindings, not this one's
        for name, part in bound.items():
            object.__setattr__(cloned, name, part)
        return cloned


DATA_CONVERTER = ContextBoundDataConverter(payload_converter_class=SharedPydanticPayloadConverter)
