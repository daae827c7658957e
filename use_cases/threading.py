"""The one seam that decides which thread a message joins.

In order: (a) our signed reply token in the address the reply was sent to;
(b) a bounce's original Message-ID, In-Reply-To, References (most recent first) and
Outlook's Thread-Index, matched against the durable thread index: first the ids of mail the
thread received or sent, then the ids that mail placed before only referenced (JWZ's missing
parents: two replies to a root we never saw find each other through it); then the References
root / In-Reply-To themselves, unless the subject carries the ticket reference ("[#K7Q2MX]")
of exactly one thread of the mailbox, which a person (or a client without threading headers)
kept: that thread (rule "ticket-reference"; a reference two threads share is ignored);
(c) the normalised subject of a recent thread of the same
mailbox sharing a participant; (d) a new thread keyed by the message's own Message-ID.

The index maps an id to the first thread that recorded it and never re-points it. A
referenced id is recorded apart from the ids of mail we have (under MENTION), so it is only
ever a fallback: a mail that merely names an id — a hostile one too — cannot take over
replies to the message that id belongs to once we have that message or our reply to it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from use_cases.mail import InboundEmail
from use_cases.mailboxes import Mailboxes
from use_cases.models import ThreadEntry, ThreadKey
from use_cases.ports import ThreadIndex
from use_cases.replies import reply_message_id
from use_cases.tickets import IN_SUBJECT, reference_in, ticket_reference

THREAD_HASH_CHARS = 16
TOKEN_MAC_CHARS = 12
TOKEN = re.compile(r"^t([0-9a-f]{16})([0-9a-f]{12})$")
DEFAULT_SUBJECT_WINDOW = timedelta(days=14)
# Re:, RE:, Fwd:, FW:, AW:, WG:, SV:, VS:, Antw:, Réf:, TR:, Odp:, 回复: (with a count).
REPLY_MARKER_PATTERN = (
    r"(re|fwd?|aw|wg|sv|vs|antw|réf|ref|tr|odp|rif|r|回复|转发)\s*(\[\d+\]|\(\d+\))?\s*[:\uff1a]"
)
REPLY_MARKER = re.compile(rf"^\s*{REPLY_MARKER_PATTERN}", re.IGNORECASE)
TICKET_TAG = IN_SUBJECT
SUBJECT_TAG = re.compile(r"^\s*\[[^\]]{0,60}\]\s*")  # [list tags], [Ticket#5]
# What a subject key drops: markers and tags, stacked in any order.
SUBJECT_PREFIX = re.compile(rf"^\s*({REPLY_MARKER_PATTERN}|\[[^\]]{{0,60}}\])\s*", re.IGNORECASE)
OUTLOOK_CONVERSATION_BYTES = 22  # Thread-Index: a 22-byte header names the conversation
# Index key of an id that a placed message referenced (In-Reply-To, References) without our
# having that message: a Message-ID starts with "<", so the two never collide.
MENTION = "mentioned:"
# The References root and the most recent ids (with In-Reply-To) are what later replies keep.
MAX_RECORDED_REFERENCES = 20


@dataclass(frozen=True)
class Threading:
    index: ThreadIndex
    secret: bytes = b""
    subject_window: timedelta = DEFAULT_SUBJECT_WINDOW
    # Our mailboxes: they are in every thread, so they share nothing (without: the one the
    # mail was sent to).
    mailboxes: Mailboxes | None = None


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


def reply_token(workflow_id: str, secret: bytes) -> str:
    """`t<16 hex of the thread><12 hex of HMAC-SHA256>`: lower-case hex survives MTAs that
    fold the case of local parts."""
    mailbox, thread_hash = split_workflow_id(workflow_id)
    return f"t{thread_hash}{_mac(mailbox, thread_hash, secret)}"


def reply_address(workflow_id: str, secret: bytes) -> str:
    """`<mailbox>+<token>@<domain>` (RFC 5233 sub-address), or the bare mailbox without a key."""
    mailbox, _ = split_workflow_id(workflow_id)
    if not secret:
        return mailbox
    local, _, domain = mailbox.rpartition("@")
    return f"{local}+{reply_token(workflow_id, secret)}@{domain}"


def of_mailbox(address: str, mailbox: str) -> bool:
    """`address` is `mailbox` itself or one of its sub-addresses (`support+t…@`, RFC 5233):
    ours, never one of a thread's people."""
    local, _, domain = address.lower().rpartition("@")
    own_local, _, own_domain = mailbox.lower().rpartition("@")
    return domain == own_domain and local.split("+", 1)[0] == own_local


def thread_of_token(token: str, mailbox: str, secret: bytes) -> str | None:
    """The workflow id a token names, if its signature is valid for `mailbox`."""
    found = TOKEN.match(token.lower())
    if not secret or found is None:
        return None
    thread_hash, mac = found.groups()
    if not hmac.compare_digest(mac, _mac(mailbox, thread_hash, secret)):
        return None
    return f"thread-{mailbox}-{thread_hash}"


def subject_key(subject: str) -> str:
    """`Re: AW: [Ticket#5] Fwd: Printer  on fire` → `printer on fire`."""
    previous = None
    # our own ticket tag goes at the end of the subjects we send ("Re: Printer on fire
    # [#K7Q2MX]"): a reply keeps it, and must still match the subject the thread began with
    text = TICKET_TAG.sub(" ", subject)
    while previous != text:
        previous, text = text, SUBJECT_PREFIX.sub("", text, count=1)
    return " ".join(text.lower().split())


def is_reply_subject(subject: str) -> bool:
    """A reply or forward marker (`Re:`, `AW:`, `SV:`, `Fwd:` …), after any `[tags]`: a tag
    alone (`[ANN]`, `[PATCH]`, `[Ticket #1]`) is how lists and trackers label new mail too."""
    text = subject
    while (tag := SUBJECT_TAG.match(text)) is not None:
        text = text[tag.end() :]
    return bool(REPLY_MARKER.match(text)) and subject_key(subject) != ""


def outlook_conversation(thread_index: str | None) -> str | None:
    if not thread_index:
        return None
    try:
        data = base64.b64decode(thread_index.strip() + "==", validate=False)
    except (binascii.Error, ValueError):
        return None
    if len(data) < OUTLOOK_CONVERSATION_BYTES:
        return None
    return f"<{data[:OUTLOOK_CONVERSATION_BYTES].hex()}@thread-index.outlook>"


async def locate_thread(
    email: InboundEmail,
    *,
    mailbox: str,
    threading: Threading,
    now: datetime,
    is_open: Callable[[str], Awaitable[bool]] | None = None,
) -> ThreadKey:
    for address in (*email.to, *email.cc, *email.recipients):
        token = token_in(address, mailbox)
        found = thread_of_token(token, mailbox, threading.secret) if token else None
        if found:
            return ThreadKey(
                mailbox=mailbox, key=token or "", rule="reply-token", workflow_id=found
            )
    candidates = _referenced_ids(email)
    keys = [*candidates, *(mention_key(i) for i in candidates)]
    known = await threading.index.threads_of(keys, mailbox) if candidates else {}
    for message_id in candidates:
        if message_id in known:
            rule = "bounce" if email.report and message_id == _original(email) else "index"
            return ThreadKey(
                mailbox=mailbox, key=message_id, rule=rule, workflow_id=known[message_id]
            )
    for message_id in candidates:
        if (found := known.get(mention_key(message_id))) is not None:
            return ThreadKey(mailbox=mailbox, key=message_id, rule="reference", workflow_id=found)
    if (by_reference := await _by_reference(email, mailbox, threading)) is not None:
        return by_reference
    if email.references or email.in_reply_to:
        return thread_key(email, mailbox=mailbox)
    by_subject = await _by_subject(email, mailbox, threading, now, is_open)
    return by_subject or thread_key(email, mailbox=mailbox)


async def record_placement(
    email: InboundEmail,
    key: ThreadKey,
    *,
    threading: Threading,
    now: datetime,
    blobs: Sequence[str] = (),
) -> None:
    """Teach the index this message's id, the id our acknowledgement to it would get, its
    Outlook conversation, and (as mentions) the ids it references, so later replies find the
    thread whatever they kept; and the blobs the mail stored (`blobs`), which the thread now
    holds until retention or erasure removes them."""
    ids = [email.message_id, reply_message_id("ack", email.message_id, key.mailbox)]
    conversation = outlook_conversation(email.thread_index)
    if conversation:
        ids.append(conversation)
    ids.extend(mention_key(i) for i in recorded_references(email))
    entry = ThreadEntry(
        workflow_id=key.workflow_id,
        message_ids=tuple(ids),
        subject_key=subject_key(email.subject),
        participants=tuple(p for p in (email.from_addr, *email.to[:20], *email.cc[:20]) if p),
        at=now,
        reference=ticket_reference(key.workflow_id),
        blobs=tuple(dict.fromkeys(blobs)),
    )
    await threading.index.record(key.mailbox, key.workflow_id, entry)


async def _by_reference(
    email: InboundEmail, mailbox: str, threading: Threading
) -> ThreadKey | None:
    reference = reference_in(email.subject)
    if reference is None:
        return None
    threads = await threading.index.threads_with_reference(mailbox, reference)
    if len(threads) != 1:  # none, or ambiguous: never guessed
        return None
    return ThreadKey(
        mailbox=mailbox, key=reference, rule="ticket-reference", workflow_id=threads[0]
    )


async def _by_subject(
    email: InboundEmail,
    mailbox: str,
    threading: Threading,
    now: datetime,
    is_open: Callable[[str], Awaitable[bool]] | None,
) -> ThreadKey | None:
    """Last resort, and only into an *open* thread: a same-subject mail to a finished
    conversation is a new one (the subject-tag trap of helpdesks, zammad#5064)."""
    if not is_reply_subject(email.subject) or not email.from_addr or _bulk(email):
        return None
    key = subject_key(email.subject)
    # Our own addresses are in every thread of the mailbox: they share nothing.
    people = {
        p for p in (email.from_addr, *email.to, *email.cc) if not _ours(p, mailbox, threading)
    }
    threads = await threading.index.by_subject(mailbox, key, now - threading.subject_window)
    for entry in sorted(threads, key=lambda e: e.at, reverse=True):
        if people & set(entry.participants):
            if is_open is not None and not await is_open(entry.workflow_id):
                continue
            return ThreadKey(
                mailbox=mailbox, key=key, rule="subject", workflow_id=entry.workflow_id
            )
    return None


def _ours(address: str, mailbox: str, threading: Threading) -> bool:
    if threading.mailboxes is not None:
        return threading.mailboxes.resolve(address) is not None
    local, _, domain = address.rpartition("@")
    return f"{local.split('+', 1)[0]}@{domain}" == mailbox


def _bulk(email: InboundEmail) -> bool:
    """List, bulk and newsletter mail: a list's address is "a participant" of everybody on
    it, and its subjects repeat, so it never joins a thread by subject."""
    precedence = (email.precedence or "").strip().lower()
    return (
        bool(email.list_id)
        or precedence in {"bulk", "list", "junk"}
        or ("list-unsubscribe" in email.auto_reply_headers)
    )


def mention_key(message_id: str) -> str:
    return f"{MENTION}{message_id}"


def recorded_references(email: InboundEmail) -> list[str]:
    """The ids a message references that the index learns as mentions: its References root,
    In-Reply-To and the most recent References, at most MAX_RECORDED_REFERENCES."""
    chain = [*email.references[:1], email.in_reply_to, *reversed(email.references)]
    ids = dict.fromkeys(i for i in chain if i and i != email.message_id)
    return list(ids)[:MAX_RECORDED_REFERENCES]


def _referenced_ids(email: InboundEmail) -> list[str]:
    ids = [_original(email), email.in_reply_to, *reversed(email.references)]
    ids.append(outlook_conversation(email.thread_index))
    return list(dict.fromkeys(i for i in ids if i and i != email.message_id))


def _original(email: InboundEmail) -> str | None:
    if email.report is not None and email.report.original_message_id:
        return email.report.original_message_id
    return None


def token_in(address: str, mailbox: str) -> str | None:
    local, _, domain = address.rpartition("@")
    base, plus, tag = local.partition("+")
    if plus and f"{base}@{domain}" == mailbox:
        return tag
    return None


# A thread's workflow id, and a child flow's: `<thread id>-<flow>-<n>` (workflows/routing.py).
_THREAD_OR_FLOW_ID = re.compile(
    rf"(?P<thread>thread-.+-[0-9a-f]{{{THREAD_HASH_CHARS}}})(?:-(?P<flow>[A-Za-z0-9_]+)-\d+)?"
)


def thread_of(workflow_id: str) -> tuple[str, str | None] | None:
    """The thread a workflow id belongs to, and the flow when it is a child flow's; None
    for a workflow of no thread (the coordinator, a schedule's)."""
    found = _THREAD_OR_FLOW_ID.fullmatch(workflow_id)
    return (found["thread"], found["flow"]) if found else None


def split_workflow_id(workflow_id: str) -> tuple[str, str]:
    rest, _, thread_hash = workflow_id.rpartition("-")
    return rest.removeprefix("thread-"), thread_hash


def _mac(mailbox: str, thread_hash: str, secret: bytes) -> str:
    digest = hmac.new(secret, f"{mailbox}:{thread_hash}".encode(), hashlib.sha256)
    return digest.hexdigest()[:TOKEN_MAC_CHARS]
