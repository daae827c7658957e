"""The signed address an approver decides by mail through.

Anyone can write `From: boss@corp.example`, and a `Re: <subject>` mail can reach a thread
without any secret, so an emailed "approve" counts only when it was sent to the address that
only that approver was given: `<mailbox>+d<16 hex of the thread><12 hex of an HMAC over the
mailbox, the thread and the approver>@<domain>`, from that approver. The key is the reply
token's (MAILROOM_REPLY_TOKEN_SECRET or the data directory's key): workflow code and its
history never see it; the activity that sends the approval request signs the address, and
ingest checks it.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from use_cases.mail import InboundEmail
from use_cases.threading import TOKEN_MAC_CHARS, split_workflow_id, token_in

DECISION_TOKEN = re.compile(r"^d([0-9a-f]{16})([0-9a-f]{12})$")
DECISION_RULE = "decision-token"


def decision_address(workflow_id: str, approver: str, secret: bytes) -> str | None:
    """Where `approver` sends a decision about the purchase in `workflow_id` (None without a
    key: then no emailed decision can be authenticated)."""
    if not secret:
        return None
    mailbox, thread_hash = split_workflow_id(workflow_id)
    local, _, domain = mailbox.rpartition("@")
    mac = _mac(mailbox, thread_hash, approver, secret)
    return f"{local}+d{thread_hash}{mac}@{domain}"


def decided_thread(email: InboundEmail, mailbox: str, secret: bytes) -> str | None:
    """The thread whose signed decision address this mail was sent to, if the address was
    made for the mail's sender."""
    if not secret or not email.from_addr:
        return None
    for address in (*email.to, *email.cc, *email.recipients):
        token = token_in(address, mailbox)
        found = DECISION_TOKEN.match(token.lower()) if token else None
        if found is None:
            continue
        thread_hash, mac = found.groups()
        expected = _mac(mailbox, thread_hash, email.from_addr, secret)
        if hmac.compare_digest(mac, expected):
            return f"thread-{mailbox}-{thread_hash}"
    return None


def _mac(mailbox: str, thread_hash: str, approver: str, secret: bytes) -> str:
    message = f"decide:{mailbox}:{thread_hash}:{approver.strip().lower()}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()[:TOKEN_MAC_CHARS]
