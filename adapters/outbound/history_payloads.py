"""What a workflow's stored history holds, read back as its values: every payload of every
event of a run (inputs, signals, results, markers, headers, memos), decoded with the
client's codec (erasure looks in them for a person's mail and its blobs)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.client import Client

from adapters.outbound.payload_codec import ENCODING

JSON_ENCODING = b"json/plain"


def payloads_in(message: Message) -> list[Payload]:
    """Every Payload anywhere in a protobuf message (inputs, headers, memos, results)."""
    found: list[Payload] = []
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            items = list(value.values())
        elif isinstance(value, Message):
            items = [value]
        else:
            items = list(value)
        for item in items:
            if isinstance(item, Payload):
                found.append(item)
            elif isinstance(item, Message):
                found += payloads_in(item)
    return found


async def recorded_values(client: Client, workflow_id: str, run_id: str) -> AsyncIterator[Any]:
    """Each JSON value one run's history holds, decoded (what is not JSON is passed by)."""
    codec = client.data_converter.payload_codec
    history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
    for event in history.events:
        payloads = payloads_in(event)
        sealed = [p for p in payloads if p.metadata.get("encoding") == ENCODING]
        opened = await codec.decode(sealed) if codec is not None and sealed else sealed
        # search attributes stay plain (the server indexes them): read as they are
        for payload in [*opened, *(p for p in payloads if p.metadata.get("encoding") != ENCODING)]:
            if payload.metadata.get("encoding") == JSON_ENCODING:
                yield json.loads(payload.data)
