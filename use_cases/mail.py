"""Mail as it crosses boundaries: a received mail parsed (InboundEmail), its attachments
and blobs, and a mail we send (OutboundEmail) with what sending it did.

Thread and flow models, which carry these, are in use_cases/models.py.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class MessageKind(StrEnum):
    """What kind of sender wrote a message; only HUMAN mail is ever answered automatically."""

    HUMAN = "human"
    AUTO_REPLY = "auto-reply"
    BOUNCE = "bounce"
    OWN = "own"


class MailClass(Frozen):
    """The classifier's verdict: the kind, and why (None for a human message)."""

    kind: MessageKind = MessageKind.HUMAN
    reason: str | None = None


class BlobRef(Frozen):
    """A content-addressed blob: what the workflow holds instead of the bytes (claim-check)."""

    # The blob's address: HMAC-SHA256 of the content under the installation's naming key
    # (blob_sealing); the plain sha256 for blobs stored before. The name stays: histories hold it.
    sha256: str
    size: int


class Attachment(Frozen):
    filename: str = ""
    content_type: str = "application/octet-stream"
    size: int = 0
    sha256: str = ""
    inline: bool = False
    blob: BlobRef | None = None


class DeliveryReport(Frozen):
    """A delivery-status notification (RFC 3464, or read from a non-standard bounce text)."""

    action: str = "failed"
    status: str = ""
    recipients: tuple[str, ...] = ()
    diagnostic: str = ""
    original_message_id: str | None = None
    standard: bool = False


class InboundEmail(Frozen):
    """What mailroom reads out of one received message."""

    message_id: str
    message_id_generated: bool = False
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    from_addr: str = ""
    from_name: str = ""
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    subject: str = ""
    date: datetime | None = None
    text: str = ""
    return_path: str | None = None
    auto_submitted: str | None = None
    precedence: str | None = None
    defects: tuple[str, ...] = ()
    size: int = 0
    # Real-world mail: the reply's new text, attachments, and what the classifier
    # and the thread key read. `contents` holds attachment bytes for the claim-check only:
    # it is never serialised, so it can never reach Temporal.
    new_text: str = ""
    reply_to: tuple[str, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    contents: tuple[bytes, ...] = Field(default=(), exclude=True, repr=False)
    report: DeliveryReport | None = None
    x_loop: tuple[str, ...] = ()
    list_id: str | None = None
    auto_reply_headers: dict[str, str] = Field(default_factory=dict)
    thread_index: str | None = None
    content_type: str = ""
    recipients: tuple[str, ...] = ()
    # A multipart/report's report-type (RFC 6522): delivery-status (RFC 3464),
    # disposition-notification (RFC 8098), feedback-report (RFC 5965) …; "" when none.
    report_type: str = ""
    # The failed recipients a bounce detector read out of a non-standard bounce's text, and
    # whether it reported them as temporary (a delay warning) rather than permanent failures.
    bounce_recipients: tuple[str, ...] = ()
    bounce_delayed: bool = False
    # The operator's MTA vouched for the From: domain (DMARC pass or its DKIM signature).
    from_authenticated: bool = False


class SignedReplyTo(Frozen):
    """Asks the sender to set Reply-To to `approver`'s signed decision address for the
    thread: signed where the key is (the activity), never in workflow code or history."""

    thread_id: str
    request: str
    approver: str


ReplyKind = Literal[
    "answer", "acknowledgement", "approval_request", "notification", "human_reply", "other"
]


class OutboundEmail(Frozen):
    """A mail mailroom sends; its Message-ID is fixed before sending (idempotency key)."""

    message_id: str
    from_addr: str
    to: tuple[str, ...]
    subject: str
    text: str
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    reply_to: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    decision_reply_to: SignedReplyTo | None = None
    # The thread it belongs to: its Message-ID is taught to the thread index before it is
    # sent, so a reply that keeps only In-Reply-To finds the thread.
    thread_id: str = ""
    # Its recipient wrote to us through the thread's signed reply address, so is neither a
    # forged nor a rotating sender: only the cap per person applies, not those per domain
    # and in all (which a flood of forgeries could otherwise use up for real customers).
    recipient_verified: bool = False
    # What it is, for the count of mails sent by kind (mailroom_replies_sent).
    kind: ReplyKind = "other"


class SendResult(Frozen):
    message_id: str
    already_sent: bool
    suppressed: bool = False


class OutboxEntry(Frozen):
    message_id: str
    to: list[str]
    subject: str
    in_reply_to: str | None
    references: list[str]
    reply_to: str | None
    sent_at: datetime
    from_addr: str = ""
