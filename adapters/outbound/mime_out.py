"""OutboundEmail → RFC 5322 message."""

from __future__ import annotations

from datetime import datetime
from email import policy
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import format_datetime

from use_cases.mail import OutboundEmail

SENT_AT_HEADER = "X-Mailroom-Sent-At"
CACHED_HEADER_CLASSES = 256


class CachedHeaderRegistry(HeaderRegistry):
    """The stdlib's registry builds a new header class (`type(...)`, through ABCMeta) for
    every header it makes: a third of the worker's time building a reply. The class depends
    only on the header's name, so each is built once."""

    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[str, type[BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        made = self._classes.get(key)
        if made is None:
            made = super().__getitem__(name)
            if len(self._classes) < CACHED_HEADER_CLASSES:  # names come from our flows
                self._classes[key] = made
        return made


POLICY = policy.default.clone(header_factory=CachedHeaderRegistry())


def to_mime(
    mail: OutboundEmail, *, sent_at: datetime, mime_policy: EmailPolicy[EmailMessage] = POLICY
) -> EmailMessage:
    msg = EmailMessage(policy=mime_policy)
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
