"""The one seam that decides which thread a message joins."""

from __future__ import annotations

import hashlib

from use_cases.models import InboundEmail, ThreadKey

THREAD_HASH_CHARS = 16


def workflow_id_for(mailbox: str, key: str) -> str:
    digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()
    return f"thread-{mailbox}-{digest[:THREAD_HASH_CHARS]}"


def thread_key(email: InboundEmail, *, mailbox: str) -> ThreadKey:
    """First Message-ID in References (the thread's root), else In-Reply-To, else our own.

    The root of References is what every well-behaved client keeps (RFC 5322 §3.6.4), so
    every reply in a conversation maps to the same key even when In-Reply-To differs.
    """
    if email.references:
        key, rule = email.references[0], "references"
    elif email.in_reply_to:
        key, rule = email.in_reply_to, "in-reply-to"
    else:
        key, rule = email.message_id, "new-thread"
    return ThreadKey(mailbox=mailbox, key=key, rule=rule, workflow_id=workflow_id_for(mailbox, key))
