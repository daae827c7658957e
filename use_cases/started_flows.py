"""A flow started by command (`mailroom start FLOW`) or a schedule instead of by mail.

A threaded flow still runs in a mail thread, so approvals, replies and `mailroom stop` work
as for mail: the command hands the thread a synthetic first message that names the flow and
carries its validated input (`NewMessage.flow`, `NewMessage.flow_input`). Its Message-ID is
made of the flow, the input and the operator, so running the same command twice reaches the
same thread, where the thread's Message-ID check drops the second copy.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from use_cases.models import NewMessage, ThreadEntry, ThreadKey
from use_cases.replies import reply_message_id
from use_cases.threading import subject_key, workflow_id_for
from use_cases.tickets import ticket_reference

STARTED_RULE = "started"  # the thread rule shown in `mailroom thread`
START_HASH_CHARS = 16


class InputRefused(ValueError):
    """The input does not fit the flow's input model; the message names the field."""


def validated_input(flow: str, model: type[BaseModel], values: Mapping[str, Any]) -> BaseModel:
    """`values` checked by `model`; InputRefused naming the first bad field."""
    try:
        return model.model_validate(dict(values))
    except ValidationError as exc:
        raise InputRefused(refusal(flow, model, exc)) from None


def refusal(flow: str, model: type[BaseModel], exc: ValidationError) -> str:
    error = exc.errors()[0]
    field = ".".join(str(part) for part in error["loc"]) or "input"
    if error["type"] == "missing":
        return f"{flow}: the field {field!r} is required"
    if error["type"] == "extra_forbidden":
        known = ", ".join(model.model_fields)
        return f"{flow}: there is no field {field!r} (fields: {known})"
    return f"{flow}: field {field!r}: {error['msg'].removeprefix('Value error, ')}"


def start_message_id(flow: str, values: Mapping[str, Any], operator: str) -> str:
    """`<start-<hash>@mailroom>`: the same for the same flow, input and operator."""
    return f"<start-{start_hash(flow, values, operator)}@mailroom>"


def start_hash(flow: str, values: Mapping[str, Any], operator: str) -> str:
    what = json.dumps([flow, values, operator], sort_keys=True, default=str)
    return hashlib.sha256(what.encode()).hexdigest()[:START_HASH_CHARS]


def flow_mailbox(
    flow: str, keywords: Sequence[str], mailboxes: Sequence[str], domains: Sequence[str]
) -> str:
    """The first configured mailbox whose local part holds one of the flow's keywords (as
    mail is routed), else `<flow>@<first domain>`."""
    for mailbox in mailboxes:
        local = mailbox.split("@")[0].lower()
        if any(keyword in local for keyword in keywords):
            return mailbox
    return f"{flow}@{domains[0]}"


def start_subject(flow: str, flow_input: BaseModel, operator: str) -> str:
    """The input's own `thread_subject` when it has one, else "<flow> started by <operator>"."""
    own = getattr(flow_input, "thread_subject", None)
    return own if isinstance(own, str) and own else f"{flow} started by {operator}"


def input_text(flow_input: BaseModel) -> str:
    """The input as a person reads it: `Field: value` lines, lists as `- ` lines, then the
    free text (an operator's validated fields: no control characters to clean)."""
    values = flow_input.model_dump(mode="json", exclude_none=True)
    free = values.pop("text", "")
    lines: list[str] = []
    for name, value in values.items():
        label = name.replace("_", " ").capitalize()
        if isinstance(value, list):
            lines.append(f"{label}:")
            lines.extend(f"- {shown(v)}" for v in value)
        else:
            lines.append(f"{label}: {shown(value)}")
    return "\n".join(lines) + (f"\n\n{free}" if free else "")


def shown(value: Any) -> str:
    """A line item as `2 x laptop stand`, 300.0 as 300; anything else as it is."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict) and {"quantity", "description"} <= value.keys():
        unit = f" {value['unit']}" if value.get("unit") else ""
        return f"{value['quantity']}{unit} x {value['description']}"
    return str(value)


def started_thread(
    flow: str,
    flow_input: BaseModel,
    *,
    requester: str,
    operator: str,
    mailbox: str,
    now: datetime,
) -> tuple[ThreadKey, NewMessage]:
    """The thread key and first message of a thread started by command."""
    values = flow_input.model_dump(mode="json")
    message_id = start_message_id(flow, values, operator)
    key = ThreadKey(
        mailbox=mailbox,
        key=message_id,
        rule=STARTED_RULE,
        workflow_id=workflow_id_for(mailbox, message_id),
    )
    message = NewMessage(
        mailbox=mailbox,
        message_id=message_id,
        from_addr=requester,
        to=(mailbox,),
        subject=start_subject(flow, flow_input, operator),
        date=now,
        received_at=now,
        text=input_text(flow_input),
        thread_rule=STARTED_RULE,
        reply_target=requester,
        content_digest=start_hash(flow, values, operator),
        flow=flow,
        flow_input=values,
    )
    return key, message


def index_entry(key: ThreadKey, message: NewMessage) -> ThreadEntry:
    """What the thread index learns, as for mail: replies to the thread's first mail and to
    its acknowledgement, and its ticket reference, find the thread."""
    ack = reply_message_id("ack", message.message_id, key.mailbox)
    return ThreadEntry(
        workflow_id=key.workflow_id,
        message_ids=(message.message_id, ack),
        subject_key=subject_key(message.subject),
        participants=(message.from_addr,),
        at=message.received_at,
        reference=ticket_reference(key.workflow_id),
    )
