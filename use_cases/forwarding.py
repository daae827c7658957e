"""A thread's mail to its child flow, sent by local activity (workflows/mail_to_child.py),
and how the child takes each mail once.

A local activity runs again when the thread's workflow task is retried after it ran: the
server applies one request id once per run, but the child may have continued-as-new
meanwhile, so the child also remembers the mail it took, by a key of its own
(`delivery_key`), and drops a mail it took before. The key is the thread's own idea of
"the same mail": its Message-ID and content digest (a Message-ID reused by other content
is another mail, as the thread keeps it: workflows/thread_memory.py other_content).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence

from pydantic import BaseModel, RootModel

from use_cases.models import NewMessage

# What a child remembers of the mail it took, carried across its continue-as-new: a re-sent
# forward comes from the thread's latest workflow task, so the last few hundred are plenty.
REMEMBERED_DELIVERIES = 500


def delivery_key(message: NewMessage) -> str:
    """Short and fixed-size whatever the Message-ID's length (500 fit in ~13 KB)."""
    identity = f"{message.message_id}\n{message.content_digest}".encode()
    return hashlib.blake2b(identity, digest_size=12).hexdigest()


def forward_request_id(base: uuid.UUID, messages: Sequence[NewMessage]) -> str:
    """The request id of one forward: `base` (the workflow's own uuid4, the same on every
    attempt and replay of the call) named by the mail it carries. A thread's workflow task
    run again after its forward went out forwards with the same `base` but may carry more
    mail (what came meanwhile): the server would drop that forward as one it applied."""
    return str(uuid.uuid5(base, "\n".join(delivery_key(message) for message in messages)))


# Mail that goes with a flow's start (FlowStart.queued, history format 4) is recorded in
# the start command, in the thread's history and the child's: far below Temporal's 2 MB
# payload limit however large the burst (a mail may be 256 KB); the rest is forwarded after.
# The budget and its measure decide commands (a forward or none): part of format 4, changed
# only with a new format. Fields left at their defaults are not counted, so a field added to
# NewMessage later does not change how a recorded burst splits on replay.
WITH_START_BYTES = 256 * 1024


def fitting_a_start(messages: Sequence[NewMessage]) -> list[NewMessage]:
    """The first of `messages`, in order, whose JSON together fits WITH_START_BYTES."""
    fits: list[NewMessage] = []
    used = 0
    for message in messages:
        used += len(message.model_dump_json(exclude_defaults=True))
        if used > WITH_START_BYTES:
            break
        fits.append(message)
    return fits


def remember_delivery(taken: list[str], key: str) -> list[str]:
    return [*taken, key][-REMEMBERED_DELIVERIES:]


class ForwardedMail(RootModel[list[NewMessage]]):
    """The NEW_MESSAGES signal's argument: on the wire a plain list of messages, the same
    bytes as the thread's signal command sent."""


class MailForward(BaseModel):
    """Mail for a running child flow, in the order it came (one NEW_MESSAGES signal)."""

    workflow_id: str
    signal: str
    request_id: str  # the same on every attempt of one forward: the server applies it once
    messages: list[NewMessage]
