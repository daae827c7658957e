"""OutboundEmail → RFC 5322 message."""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime

from use_cases.models import OutboundEmail

SENT_AT_HEADER = "X-Mailroom-Sent-At"


def to_mime(mail: OutboundEmail, *, sent_at: datetime) -> EmailMessage:
    msg = EmailMessage()
    msg["Message-ID"] = mail.message_id
    msg["Date"] = format_datetime(sent_at)
    msg["From"] = mail.from_addr
    msg["To"] = ", ".join(mail.to)
    msg["Subject"] = mail.subject
    if mail.reply_to:
        msg["Reply-To"] = mail.reply_to
    if mail.in_reply_to:
        msg["In-Reply-To"] = mail.in_reply_to
    if mail.references:
        msg["References"] = " ".join(mail.references)
    for name, value in mail.headers.items():
        msg[name] = value
    msg[SENT_AT_HEADER] = sent_at.isoformat()
    msg.set_content(mail.text)
    return msg
