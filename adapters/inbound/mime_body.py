"""The MIME tree of a message → its best text, its attachments, any delivery-status report and
the kind of report it is (RFC 6522: delivery status, disposition notification, feedback report);
and the failed recipients of a bounce, read by flufl.bounce, GNU Mailman's bounce detectors
(RFC 3464 and the non-standard formats of Postfix, Exim, qmail, Exchange, Yahoo, AOL, …).

The tree is walked iteratively (no recursion: a hostile `message/rfc822` nesting cannot blow
the stack) and never descends into an attached message: a forwarded mail is an attachment,
its text is not ours.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from email.message import Message

from flufl.bounce import all_failures

from adapters.inbound.charsets import decode_text, printable_text
from adapters.inbound.html_text import html_to_text
from adapters.inbound.mime_headers import decode_words, normalise_address, unfold
from use_cases.mail import Attachment, DeliveryReport

MAX_PARTS = 1_000
DSN_RECIPIENTS = 100
MAX_FILENAME_CHARS = 255
# The machine-readable part of each kind of multipart/report (RFC 3464, 6533, 8098, 5965).
REPORT_PARTS = {
    "message/delivery-status": "delivery-status",
    "message/global-delivery-status": "delivery-status",
    "message/disposition-notification": "disposition-notification",
    "message/global-disposition-notification": "disposition-notification",
    "message/feedback-report": "feedback-report",
}
# The bounce detectors log each detector they run (INFO) and each that raises (ERROR, with the
# traceback); what matters to us becomes a defect of the message instead.
logging.getLogger("flufl.bounce").setLevel(logging.CRITICAL)


@dataclass(frozen=True)
class Bounce:
    recipients: tuple[str, ...] = ()
    delayed: bool = False


@dataclass
class Body:
    text: str = ""
    attachments: list[Attachment] = field(default_factory=list)
    contents: list[bytes] = field(default_factory=list)
    report: DeliveryReport | None = None
    report_type: str = ""
    defects: list[str] = field(default_factory=list)


def read_body(msg: Message) -> Body:
    body = Body()
    plain: str | None = None
    html: str | None = None
    original: Message | None = None
    for part in _leaves(msg, body.defects):
        try:
            ctype = part.get_content_type()
            body.report_type = body.report_type or REPORT_PARTS.get(ctype, "")
            if REPORT_PARTS.get(ctype) == "delivery-status" and body.report is None:
                body.report = _delivery_status(part)
            elif ctype in ("message/rfc822", "text/rfc822-headers") and original is None:
                original = part
            if _is_attachment(part, ctype):
                _attach(part, ctype, body)
            elif ctype == "text/html" and html is None:
                html = _text_of(part, body.defects)
            elif plain is None and (ctype == "text/plain" or part.get_content_maintype() != "text"):
                plain = _text_of(part, body.defects)
        except Exception as exc:  # one part the walker did not foresee: keep the others
            body.defects.append(f"unreadable MIME part: {exc!r}"[:300])
    if plain is None and html is not None:
        plain = html_to_text(html, body.defects)
    if body.report is not None and original is not None:
        try:
            body.report = _with_original_id(original, body.report)
        except Exception as exc:  # the returned message's headers are beyond reading
            body.defects.append(f"unreadable returned message: {exc!r}"[:300])
    body.text = printable_text(plain or "")
    return body


def _leaves(msg: Message, defects: list[str]) -> list[Message]:
    leaves: list[Message] = []
    stack = [msg]
    seen = 0
    while stack:
        part = stack.pop()
        seen += 1
        if seen > MAX_PARTS:
            defects.append(f"more than {MAX_PARTS} MIME parts: the rest ignored")
            break
        # Only a multipart's payload is read here: compat32's get_payload() of an 8-bit leaf
        # decodes it in the declared charset, and raises for one such as idna.
        payload = part.get_payload() if part.get_content_maintype() == "multipart" else None
        if isinstance(payload, list):
            stack.extend(reversed([p for p in payload if isinstance(p, Message)]))
        else:
            leaves.append(part)
    return leaves


def _is_attachment(part: Message, ctype: str) -> bool:
    if ctype in ("text/plain", "text/html", "message/delivery-status"):
        disposition = str(part.get("Content-Disposition", "")).split(";")[0].strip().lower()
        return disposition == "attachment" or bool(_filename(part))
    return part.get_content_maintype() != "multipart"


def _filename(part: Message) -> str:
    try:
        name = part.get_filename() or part.get_param("name")
    except Exception:
        return ""
    if isinstance(name, tuple):  # an undecodable RFC 2231 value
        name = str(name[2])
    return " ".join(decode_words(unfold(name)).split())[:MAX_FILENAME_CHARS] if name else ""


def _payload_bytes(part: Message) -> bytes:
    if part.get_content_maintype() == "message":
        inner = part.get_payload()
        if isinstance(inner, list):
            chunks = []
            for message in inner:
                try:
                    chunks.append(
                        message.as_bytes() if isinstance(message, Message) else message.encode()
                    )
                except Exception:
                    chunks.append(str(message).encode("utf-8", "surrogateescape"))
            return b"".join(chunks)
    try:
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    if isinstance(data, bytes):
        return data
    try:
        raw = part.get_payload()
    except Exception:  # the undecoded payload, read in a charset that raised
        return b""
    return raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""


def _attach(part: Message, ctype: str, body: Body) -> None:
    data = _payload_bytes(part)
    disposition = str(part.get("Content-Disposition", "")).split(";")[0].strip().lower()
    body.attachments.append(
        Attachment(
            filename=_filename(part),
            content_type=ctype,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            inline=disposition == "inline",
        )
    )
    body.contents.append(data)


def _text_of(part: Message, defects: list[str]) -> str:
    try:
        charset = part.get_param("charset")
    except Exception:  # a Content-Type the stdlib cannot split: no label, rule 3 applies
        charset = None
    label = charset if isinstance(charset, str) else None
    text, defect = decode_text(_payload_bytes(part), label)
    if defect:
        defects.append(defect)
    return text


def _delivery_status(part: Message) -> DeliveryReport:
    """RFC 3464: one per-message block, then a block per recipient."""
    payload = part.get_payload()
    blocks = [b for b in payload if isinstance(b, Message)] if isinstance(payload, list) else []
    if not blocks and isinstance(payload, str):
        blocks = [_header_block(line_block) for line_block in payload.split("\n\n")]
    recipients: list[str] = []
    status = action = diagnostic = ""
    for block in blocks[1:] or blocks:
        recipient = unfold(block.get("Final-Recipient") or block.get("Original-Recipient") or "")
        address = recipient.rpartition(";")[2].strip().strip("<>").lower()
        if "@" in address and len(recipients) < DSN_RECIPIENTS:  # not an X.400 or empty one
            recipients.append(address)
        codes = unfold(block.get("Status") or "").split()
        status = status or (codes[0] if codes else "")
        action = action or unfold(block.get("Action") or "").lower()
        diagnostic = diagnostic or unfold(block.get("Diagnostic-Code") or "")
    return DeliveryReport(
        action=action or "failed",
        status=status,
        recipients=tuple(dict.fromkeys(recipients)),
        diagnostic=diagnostic[:500],
        standard=True,
    )


def _header_block(text: str) -> Message:
    block = Message()
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if sep and name.strip():
            block[name.strip()] = value.strip()
    return block


def _with_original_id(part: Message, report: DeliveryReport) -> DeliveryReport:
    inner = part.get_payload()
    headers: Message | None = None
    if isinstance(inner, list) and inner and isinstance(inner[0], Message):
        headers = inner[0]
    elif isinstance(inner, str):
        headers = _header_block(inner.split("\n\n", 1)[0])
    if headers is None:
        return report
    found = unfold(headers.get("Message-ID") or "")
    start, end = found.find("<"), found.find(">")
    if 0 <= start < end:
        return report.model_copy(update={"original_message_id": found[start : end + 1]})
    return report


def bounce_of(msg: Message, from_addr: str, defects: list[str]) -> Bounce:
    """The failed recipients flufl.bounce's detectors find, permanent ones first. They raise on
    some malformed mail (a missing or 8-bit From:), so they get a plain From:, and whatever
    they raise becomes a defect: parsing never raises."""
    try:
        del msg["From"]
        msg["From"] = from_addr or "<>"
        temporary, permanent = all_failures(msg)
    except Exception as exc:  # a detector that did not foresee this mail: no recipients
        defects.append(f"bounce detectors failed: {exc!r}"[:300])
        return Bounce()
    found = [_address(a) for a in sorted(permanent)] or [_address(a) for a in sorted(temporary)]
    recipients = tuple(dict.fromkeys(a for a in found if a))[:DSN_RECIPIENTS]
    return Bounce(recipients=recipients, delayed=bool(recipients) and not permanent)


def _address(value: bytes | str) -> str:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return normalise_address(text)
