"""Use case: one received mail → a NEW_MESSAGE for the thread of each mailbox it was sent to."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from use_cases.automatic import classify, delivery_report
from use_cases.claim_check import (
    MAX_SIGNAL_ADDRESSES,
    MAX_SIGNAL_ATTACHMENTS,
    MAX_SIGNAL_SUBJECT_CHARS,
    PREVIEW_CHARS,
    Stored,
    claim_check,
    guard_payload,
    release,
    settle,
)
from use_cases.decision_channel import (
    DECISION_RULE,
    signed_decision,
    without_decision_addresses,
)
from use_cases.loops import loop_reason
from use_cases.mail import InboundEmail, MailClass, MessageKind
from use_cases.models import MAX_SIGNAL_TEXT_CHARS, Ingested, NewMessage, ThreadKey
from use_cases.parsing import parse_mail
from use_cases.ports import BlobStore, EmailParser, SenderAuthentication, ThreadGateway
from use_cases.reply_target import automatic_reply_target, unwrap_forwarded
from use_cases.threading import (
    Threading,
    locate_thread,
    record_placement,
    reply_address,
    thread_key,
)

# A Date this far ahead of arrival is a broken clock or a lie; before 1980, likewise.
MAX_CLOCK_SKEW = timedelta(days=1)
EARLIEST_DATE = datetime(1980, 1, 1, tzinfo=UTC)
CONTENT_DIGEST_CHARS = 16


def to_new_message(
    email: InboundEmail,
    key: ThreadKey,
    received_at: datetime,
    *,
    mail_class: MailClass | None = None,
    stored: Stored | None = None,
    digest: str | None = None,
) -> NewMessage:
    verdict = mail_class or classify(email)
    stored = stored or Stored(attachments=email.attachments)
    limit = PREVIEW_CHARS if stored.text else MAX_SIGNAL_TEXT_CHARS
    return NewMessage(
        mailbox=key.mailbox,
        message_id=email.message_id,
        in_reply_to=email.in_reply_to,
        references=email.references,
        from_addr=email.from_addr,
        from_name=email.from_name[:200],
        to=email.to[:MAX_SIGNAL_ADDRESSES],
        cc=email.cc[:MAX_SIGNAL_ADDRESSES],
        subject=email.subject[:MAX_SIGNAL_SUBJECT_CHARS],
        date=email.date,
        received_at=received_at,
        text=email.text[:limit],
        text_truncated=len(email.text) > limit,
        automatic=verdict.reason,
        thread_rule=key.rule,
        kind=verdict.kind,
        new_text=email.new_text[:limit],
        text_blob=stored.text,
        raw_blob=stored.raw,
        attachments=stored.attachments[:MAX_SIGNAL_ATTACHMENTS],
        report=delivery_report(email) if verdict.kind is MessageKind.BOUNCE else None,
        defects=email.defects,
        reply_target=automatic_reply_target(email),
        from_authenticated=email.from_authenticated,
        content_digest=content_digest(email) if digest is None else digest,
    )


def content_digest(email: InboundEmail) -> str:
    """The same for every delivery of one mail (what its author wrote and sent), different
    for another mail that reuses its Message-ID: `Received:` and other trace headers that
    MTAs add on the way are left out."""
    parts = [
        email.from_addr,
        ",".join(email.to),
        ",".join(email.cc),
        email.subject,
        email.date.isoformat() if email.date else "",
        email.text,
        *(a.sha256 for a in email.attachments),
    ]
    digest = hashlib.sha256("\x00".join(parts).encode("utf-8", "surrogateescape"))
    return digest.hexdigest()[:CONTENT_DIGEST_CHARS]


def settle_date(email: InboundEmail, received_at: datetime) -> InboundEmail:
    """A missing, unreadable or implausible Date becomes the arrival time, with a defect."""
    date = email.date
    if date is not None and EARLIEST_DATE <= date <= received_at + MAX_CLOCK_SKEW:
        return email
    defect = "Date replaced by the arrival time" + (f" (was {date.isoformat()})" if date else "")
    return email.model_copy(update={"date": received_at, "defects": (*email.defects, defect)})


def printable_address(address: str) -> str:
    """An envelope address without control characters (C0, DEL, C1, U+2028/9, …): the parser
    cleans every header, but the envelope comes from the SMTP dialogue, which refuses such a
    MAIL FROM already (553 5.1.7); this is the defence in depth before the thread and relay."""
    if address.isprintable():
        return address
    return "".join(c for c in address if c.isprintable() or c == " ")


async def ingest_email(
    raw: bytes,
    *,
    mailboxes: Sequence[str],
    gateway: ThreadGateway,
    parse: EmailParser,
    envelope_from: str | None = None,
    received_at: datetime | None = None,
    blobs: BlobStore | None = None,
    threading: Threading | None = None,
    authenticate: SenderAuthentication | None = None,
) -> Ingested:
    """Hand `raw` to its thread in every mailbox; raises HandoffFailed if any hand-off failed,
    PayloadTooLarge if the message can never fit a signal.

    A retry after a partial failure is harmless: threads apply a Message-ID once.
    """
    email = await parse_mail(parse, raw)  # big mail off the event loop (use_cases/parsing.py)
    if envelope_from is not None:  # the envelope, not a Return-Path the sender wrote
        email = email.model_copy(update={"return_path": printable_address(envelope_from)})
    if email.return_path:  # a forwarder's rewritten envelope names the original sender
        email = email.model_copy(update={"return_path": unwrap_forwarded(email.return_path)})
    received_at = received_at or datetime.now(UTC)
    digest = content_digest(email)  # before a missing Date becomes this delivery's time
    if authenticate is not None and email.from_addr and authenticate(raw, email.from_addr):
        email = email.model_copy(update={"from_authenticated": True})
    email = settle_date(email, received_at)
    targets = list(dict.fromkeys(mailboxes))
    secret = threading.secret if threading else b""
    decisions = {m: signed_decision(email, m, secret) for m in targets}
    email = email.model_copy(
        update={
            "to": without_decision_addresses(email.to),
            "cc": without_decision_addresses(email.cc),
        }
    )
    verdict = classify(email, own_addresses=targets)
    looping = loop_reason(raw)
    if looping is not None:
        verdict = MailClass(kind=MessageKind.AUTO_REPLY, reason=looping)
    if verdict.kind is MessageKind.BOUNCE:
        email = email.model_copy(update={"report": delivery_report(email)})
    stored = await claim_check(email, raw, blobs) if blobs is not None else None
    thread_ids: list[str] = []
    # Until a hand-off may have reached a thread, a failure (a payload too large, a full disk)
    # leaves nothing behind: the blobs no accepted mail holds are removed. From the first
    # hand-off on they are kept for good, even if it fails: Temporal may have applied a
    # signal whose call timed out, and the sender's retry stores the same blobs anyway.
    reached = False
    try:
        for mailbox in targets:
            decided = decisions[mailbox]
            if decided is not None:
                key = ThreadKey(
                    mailbox=mailbox,
                    key=decided.thread_id,
                    rule=DECISION_RULE,
                    workflow_id=decided.thread_id,
                )
            elif threading is None:
                key = thread_key(email, mailbox=mailbox)
            else:
                key = await locate_thread(
                    email,
                    mailbox=mailbox,
                    threading=threading,
                    now=received_at,
                    is_open=gateway.is_open,
                )
            message = to_new_message(
                email, key, received_at, mail_class=verdict, stored=stored, digest=digest
            )
            if threading is not None and threading.secret:
                address = reply_address(key.workflow_id, threading.secret)
                message = message.model_copy(update={"reply_address": address})
            if decided is not None:
                message = message.model_copy(
                    update={"decided_by": email.from_addr, "decision_request": decided.request}
                )
            checked = guard_payload(message)
            if not reached:  # recorded before the signal: no thread holds an unrecorded blob
                await settle(stored, blobs)
                reached = True  # from here the signal may reach Temporal, even if a call fails
            await gateway.new_message(key, checked)
            if threading is not None:
                held = [ref.sha256 for ref in stored.refs] if stored else []
                await record_placement(email, key, threading=threading, now=received_at, blobs=held)
            thread_ids.append(key.workflow_id)
    except BaseException:
        if not reached:
            await release(stored, blobs)
        raise
    return Ingested(message_id=email.message_id, thread_ids=tuple(thread_ids))
