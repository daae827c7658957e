"""OutboundEmail → RFC 5322 message: multipart/alternative, a format=flowed text part and
an HTML part rendered from the same templates (mail_templates.py), under a subject that
carries the thread's ticket reference."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from email import policy
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import format_datetime
from functools import cache

from adapters.outbound.mail_templates import ReplyTemplates
from use_cases.mail import OutboundEmail
from use_cases.tickets import tagged_subject, ticket_reference

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
ALWAYS_WRITTEN = frozenset({"Message-ID", "Date", "From", "To", "Subject", SENT_AT_HEADER})
# C0 controls (CR and LF included), DEL, C1 controls, the line and paragraph separators and
# lone surrogates: text taken from mail (a subject, a name) must neither add a header line nor
# reach a reader's terminal. This covers every line break str.splitlines knows (\v \f \x1c-\x1e
# \x85 \u2028 \u2029), each of which policy.default refuses in a header with a ValueError:
# the send would be retried for days, then dropped.
UNSAFE_IN_HEADER = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]+")
# RFC 5322 §2.2 ftext: a field name is printable US-ASCII without a colon or a space.
FIELD_NAME = re.compile("[\x21-\x39\x3b-\x7e]+")


def header_safe(text: str) -> str:
    """`text` fit for one header line: every run of unsafe characters becomes one space."""
    return UNSAFE_IN_HEADER.sub(" ", text)


def is_field_name(name: str) -> bool:
    return FIELD_NAME.fullmatch(name) is not None


@cache
def packaged_templates() -> ReplyTemplates:
    return ReplyTemplates()


def to_mime(
    mail: OutboundEmail,
    *,
    sent_at: datetime,
    mime_policy: EmailPolicy[EmailMessage] = POLICY,
    templates: ReplyTemplates | None = None,
) -> EmailMessage:
    """The mail as sent: built the same way on every retry (the boundary too), so only
    Date and the sent-at header tell two attempts apart."""
    msg = EmailMessage(policy=mime_policy)
    headers = [
        ("Message-ID", mail.message_id),
        ("Date", format_datetime(sent_at)),
        ("From", mail.from_addr),
        ("To", ", ".join(mail.to)),
        ("Subject", subject_of(mail)),
        ("Reply-To", mail.reply_to),
        ("In-Reply-To", mail.in_reply_to),
        ("References", " ".join(mail.references)),
        *mail.headers.items(),
        (SENT_AT_HEADER, sent_at.isoformat()),
    ]
    for name, value in headers:
        # A name that is no field name (from a flow's headers) is left out, not mended:
        # "Bcc\n" mended would be a Bcc, and raising would fail the send on every retry.
        if (value or name in ALWAYS_WRITTEN) and is_field_name(name):
            msg[name] = header_safe(value or "")
    rendered = (templates or packaged_templates()).render(mail)
    # Quoted-printable keeps the flowed lines' trailing spaces (the soft breaks) safe from
    # relays that strip white space at line ends, and keeps both parts 7-bit with short
    # lines (the HTML's would be 8bit for any non-ASCII character, and as long as a
    # paragraph); it is deterministic, so a retry still writes the same bytes.
    msg.set_content(rendered.text, params={"format": "flowed"}, cte="quoted-printable")
    msg.add_alternative(rendered.html, subtype="html", cte="quoted-printable")
    for part in msg.iter_parts():
        del part["MIME-Version"]  # add_alternative gives its part one; it belongs at the top
    msg.set_boundary(boundary(mail.message_id, rendered.text, rendered.html))
    return msg


def subject_of(mail: OutboundEmail) -> str:
    """The subject with the thread's ticket reference, once: a reply that keeps only the
    subject still finds its thread."""
    if not mail.thread_id:
        return mail.subject
    return tagged_subject(mail.subject, ticket_reference(mail.thread_id))


def boundary(*parts: str) -> str:
    """Derived from the content, so a retry writes the same bytes; "=_" never occurs in
    quoted-printable text, and the digest cannot occur in the HTML it is a digest of."""
    digest = hashlib.sha256("\0".join(parts).encode("utf-8", "surrogatepass")).hexdigest()
    return f"=_mailroom_{digest[:32]}"
