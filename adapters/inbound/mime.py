"""Raw RFC 5322 bytes → InboundEmail. Never raises: what cannot be read becomes a defect."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser, BytesParser
from email.utils import getaddresses, parsedate_to_datetime

from adapters.inbound.html_text import html_to_text
from use_cases.models import InboundEmail

MSG_ID = re.compile(r"<[^<>\s]+>")
GENERATED_ID_DOMAIN = "generated.mailroom.local"


def parse_email(raw: bytes) -> InboundEmail:
    defects: list[str] = []
    try:
        msg = BytesParser(policy=policy.default).parsebytes(raw)
    except Exception as exc:  # the stdlib parser is lenient, but never trust it on hostile bytes
        defects.append(f"unparseable message: {exc!r}")
        msg = EmailMessage()
    defects.extend(type(d).__name__ for d in msg.defects)
    header = _HeaderReader(msg, defects)
    message_id = _first_id(header.get("Message-ID"))
    from_name, from_addr = header.first_address("From")
    return InboundEmail(
        message_id=message_id or generated_message_id(raw),
        message_id_generated=message_id is None,
        in_reply_to=_first_id(header.get("In-Reply-To")),
        references=tuple(dict.fromkeys(MSG_ID.findall(header.get("References") or ""))),
        from_addr=from_addr,
        from_name=from_name,
        to=header.addresses("To"),
        cc=header.addresses("Cc"),
        subject=" ".join((header.get("Subject") or "").split()),
        date=_date(header.get("Date"), defects),
        text=_body_text(msg, defects),
        return_path=header.get("Return-Path"),
        auto_submitted=header.get("Auto-Submitted"),
        precedence=header.get("Precedence"),
        defects=tuple(defects),
        size=len(raw),
    )


def peek_message_id(raw: bytes) -> str:
    """The Message-ID from the headers alone (cheap: no body parse), for log context."""
    try:
        headers = BytesHeaderParser().parsebytes(raw)
        found = _first_id(str(headers.get("Message-ID") or ""))
    except Exception:
        found = None
    return found or generated_message_id(raw)


def generated_message_id(raw: bytes) -> str:
    """A Message-ID for mail without one, stable for the same bytes (so retries dedup)."""
    return f"<{hashlib.sha256(raw).hexdigest()[:32]}@{GENERATED_ID_DOMAIN}>"


class _HeaderReader:
    """Header access that records a defect instead of raising on malformed headers."""

    def __init__(self, msg: Message, defects: list[str]) -> None:
        self.msg = msg
        self.defects = defects

    def get(self, name: str) -> str | None:
        try:
            value = self.msg.get(name)
            return None if value is None else str(value)
        except Exception as exc:
            self.defects.append(f"bad {name} header: {exc!r}")
            raw = self.msg.get_all(name, failobj=[None])
            return None if raw[0] is None else str(raw[0])

    def addresses(self, name: str) -> tuple[str, ...]:
        pairs = getaddresses([self.get(name) or ""])
        return tuple(dict.fromkeys(addr.lower() for _, addr in pairs if "@" in addr))

    def first_address(self, name: str) -> tuple[str, str]:
        for display, addr in getaddresses([self.get(name) or ""]):
            if "@" in addr:
                return display, addr.lower()
        return "", ""


def _first_id(value: str | None) -> str | None:
    if not value:
        return None
    found = MSG_ID.search(value)
    return found.group(0) if found else None


def _date(value: str | None, defects: list[str]) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        defects.append(f"unreadable Date: {value[:80]!r}")
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _body_text(msg: Message, defects: list[str]) -> str:
    part = _best_body_part(msg)
    if part is None:
        return ""
    content = _decoded(part, defects)
    if part.get_content_subtype() == "html":
        return html_to_text(content)
    return content


def _best_body_part(msg: Message) -> Message | None:
    if isinstance(msg, EmailMessage):
        try:
            return msg.get_body(preferencelist=("plain", "html"))
        except Exception:
            return None
    return msg if msg.get_content_maintype() == "text" else None


def _decoded(part: Message, defects: list[str]) -> str:
    try:
        if isinstance(part, EmailMessage):
            content = part.get_content()
            if isinstance(content, str):
                return content
    except Exception as exc:  # unknown or lying charset, broken transfer encoding
        defects.append(f"body decoding fell back to replacement: {exc!r}")
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:
        return payload.decode("utf-8", errors="replace")
