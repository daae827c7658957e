"""A person's answer in a thread (HumanReply): its fixed Message-ID and the mail it becomes.

The Message-ID is fixed before the thread is signalled, from what the reply is (thread,
text, author) and what it answers (the thread's latest mail): running `mailroom reply`
again after a timeout signals the same reply, which the thread and the sender apply once,
while the same words ("Thanks!") sent in answer to a newer mail are a new reply.
"""

from __future__ import annotations

import hashlib

from use_cases.forgetting import ERASED
from use_cases.mail import OutboundEmail
from use_cases.models import HumanReply, NewMessage, ThreadState, answer_address
from use_cases.replies import reply_references, reply_subject
from use_cases.threading import split_workflow_id

MAX_REFERENCES = 20


def human_reply_id(thread_id: str, text: str, by: str, after: str = "") -> str:
    """`after`: the Message-ID of the thread's latest mail when the reply was written."""
    answers = f"{after}:" if after else ""
    what = f"human-reply:{thread_id}:{by}:{answers}{text}"
    digest = hashlib.sha256(what.encode()).hexdigest()[:24]
    mailbox, _ = split_workflow_id(thread_id)
    domain = mailbox.rpartition("@")[2] or "mailroom.local"
    return f"<human-{digest}@{domain}>"


def reply_to_customer(
    reply: HumanReply, *, first: NewMessage, about: NewMessage, thread_id: str
) -> OutboundEmail | None:
    """A flow's human reply: to where automatic mail about the thread's first message goes
    (None: nowhere), threaded to its last message, answerable through the thread's signed
    reply address. Not Auto-Submitted: a person wrote it, so no automatic-reply cap holds
    it back."""
    mailbox = first.mailbox
    customer = answer_address(first)
    if not customer and first.from_addr == ERASED:  # who began it was erased: whoever wrote last
        customer = answer_address(about)
    if not customer:
        return None
    return OutboundEmail(
        message_id=reply.message_id,
        from_addr=mailbox,
        to=(customer,),
        subject=reply_subject(first.subject),
        text=reply.text,
        in_reply_to=about.message_id,
        references=reply_references(about),
        reply_to=first.reply_address or mailbox,
        headers={"X-Loop": mailbox},
        thread_id=thread_id,
        kind="human_reply",
    )


def thread_customer(state: ThreadState) -> str:
    """Where the thread sends a human reply itself: the same address a flow would use
    (`answer_to`); for a thread from before that was kept, whoever wrote first."""
    if state.answer_to is not None:
        return state.answer_to
    return state.requester or next(
        (m.from_addr for m in state.messages if not m.automatic and m.from_addr), ""
    )


def thread_reply(
    reply: HumanReply, state: ThreadState, *, leave_out: str = ""
) -> OutboundEmail | None:
    """A human reply the thread sends itself (no flow running), threaded to the thread's
    last message; None when the thread knows nobody to send it to."""
    customer = thread_customer(state)
    if not customer or not state.message_ids:
        return None
    references = [m for m in state.message_ids if m != leave_out][-MAX_REFERENCES:]
    return OutboundEmail(
        message_id=reply.message_id,
        from_addr=state.mailbox,
        to=(customer,),
        subject=reply_subject(state.subject),
        text=reply.text,
        in_reply_to=references[-1],
        references=tuple(references),
        reply_to=state.reply_address or state.mailbox,
        headers={"X-Loop": state.mailbox},
        thread_id=state.thread_id,
        kind="human_reply",
    )
