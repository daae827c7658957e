"""The signed address an approver decides by mail through.

Anyone can write `From: boss@corp.example`, and a `Re: <subject>` mail can reach a thread
without any secret, so an emailed "approve" counts only when it was sent to the address that
only that approver was given for that one request:
`<mailbox>+d<16 hex of the thread><8 hex of the request><12 hex of an HMAC over the mailbox,
the thread, the request and the approver>@<domain>`. The request is the flow's first mail,
so an address used (or leaked) for one purchase decides no later one in the thread. The key
is derived from the reply token's (MAILROOM_REPLY_TOKEN_SECRET or the data directory's key):
workflow code and its history never see it; the activity that sends the approval request
signs the address, ingest checks it and keeps it out of what it hands on.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

from use_cases.mail import InboundEmail
from use_cases.threading import TOKEN_MAC_CHARS, split_workflow_id, token_in

DECISION_TOKEN = re.compile(r"^d([0-9a-f]{16})([0-9a-f]{8})([0-9a-f]{12})$")
DECISION_RULE = "decision-token"
REQUEST_CHARS = 8


@dataclass(frozen=True)
class SignedDecision:
    """What a mail sent to a valid decision address proves: its sender may decide `request`
    in `thread_id` (if that sender is an approver)."""

    thread_id: str
    request: str


def request_key(first_message_id: str) -> str:
    """Names one approval request: the flow that asks is started by this mail."""
    return hashlib.sha256(f"request:{first_message_id}".encode()).hexdigest()[:REQUEST_CHARS]


def decision_address(workflow_id: str, request: str, approver: str, secret: bytes) -> str | None:
    """Where `approver` sends a decision about `request` in `workflow_id` (None without a
    key: then no emailed decision can be authenticated)."""
    if not secret:
        return None
    mailbox, thread_hash = split_workflow_id(workflow_id)
    local, _, domain = mailbox.rpartition("@")
    mac = _mac(mailbox, thread_hash, request, approver, secret)
    return f"{local}+d{thread_hash}{request}{mac}@{domain}"


def signed_decision(email: InboundEmail, mailbox: str, secret: bytes) -> SignedDecision | None:
    """The request whose signed decision address this mail was sent to, if the address was
    made for the mail's sender."""
    if not secret or not email.from_addr:
        return None
    for address in (*email.to, *email.cc, *email.recipients):
        token = token_in(address, mailbox)
        found = DECISION_TOKEN.match(token.lower()) if token else None
        if found is None:
            continue
        thread_hash, request, mac = found.groups()
        expected = _mac(mailbox, thread_hash, request, email.from_addr, secret)
        if hmac.compare_digest(mac, expected):
            return SignedDecision(f"thread-{mailbox}-{thread_hash}", request)
    return None


def without_decision_addresses(addresses: tuple[str, ...]) -> tuple[str, ...]:
    """The addresses with every decision address cut to its mailbox: it is a secret of one
    approver, and what ingest hands on lands in workflow history and the thread index."""
    kept: list[str] = []
    for address in addresses:
        local, _, domain = address.rpartition("@")
        base, plus, tag = local.partition("+")
        secret = plus and DECISION_TOKEN.match(tag.lower())
        kept.append(f"{base}@{domain}" if secret else address)
    return tuple(dict.fromkeys(kept))


def _mac(mailbox: str, thread_hash: str, request: str, approver: str, secret: bytes) -> str:
    # A key of its own, so no reply-token MAC can ever be read as a decision MAC.
    key = hmac.new(secret, b"mailroom decision address", hashlib.sha256).digest()
    message = f"{mailbox}:{thread_hash}:{request}:{approver.strip().lower()}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:TOKEN_MAC_CHARS]
