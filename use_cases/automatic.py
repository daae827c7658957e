"""Is a message automatic? Automatic mail is never answered automatically (RFC 3834 §2).

`classify` sorts every message into human / auto-reply / bounce / own mail; the NEW_MESSAGE
signal carries the kind and, in `NewMessage.automatic`, the reason (None for a human).

Machine mail is told by what machines put in it, most certain first: a report's structure
(RFC 3464 delivery status, RFC 8098 disposition notification, RFC 5965 feedback report), the
headers of RFC 3834 and of mailing lists, then the fixed phrases of the clients and servers
that leave those out (a localised "Automatic reply:", a bounce's subject), each only together
with a machine's sender where a person could write the same words.
`tests/unit/test_machine_mail.py` measures it on a corpus of real machine and human mail.
"""

from __future__ import annotations

from collections.abc import Iterable

from use_cases.machine_mail_signs import (
    BATV,
    BOUNCE_ADDRESS,
    BOUNCE_SUBJECT,
    BOUNCE_SUBJECT_START,
    BOUNCE_TEXT,
    BULK_PRECEDENCE,
    BULK_RETURN_PATH,
    COMPLAINT_SUBJECT,
    DAEMON_NAMES,
    DAEMON_SENDERS,
    DELAY,
    ENHANCED_STATUS,
    FAILED_LIST,
    FAILED_RECIPIENT,
    HEADER_VALUES,
    NOTES_RECEIPT,
    NOTIFICATION_SENDER,
    ORIGINAL_ID,
    OUT_OF_OFFICE,
    REPORTS,
    SMTP_REPLY,
    TEXT_CHARS,
    fold,
)
from use_cases.mail import DeliveryReport, InboundEmail, MailClass, MessageKind


def classify(email: InboundEmail, *, own_addresses: Iterable[str] = ()) -> MailClass:
    ours = {a.lower() for a in own_addresses}
    loops = [x for x in email.x_loop if x in ours]
    if loops:
        return MailClass(kind=MessageKind.OWN, reason=f"own mail (X-Loop: {loops[0]})")
    bounce = _bounce_reason(email)
    if bounce:
        return MailClass(kind=MessageKind.BOUNCE, reason=bounce)
    reason = _auto_reply_reason(email)
    if reason:
        return MailClass(kind=MessageKind.AUTO_REPLY, reason=reason)
    return MailClass()


def automatic_reason(email: InboundEmail) -> str | None:
    """Why this message must not get an automatic answer, or None for a human message."""
    return classify(email).reason


def _null_sender(email: InboundEmail) -> bool:
    return email.return_path is not None and email.return_path.strip("<> ") == ""


def _local_sender(address: str) -> str:
    return BATV.sub("", address.strip().strip("<>").strip().lower())


def _daemon_sender(email: InboundEmail) -> bool:
    senders = (email.from_addr, _local_sender(email.return_path or ""))
    return (
        any(DAEMON_SENDERS.match(s) for s in senders if s)
        or DAEMON_NAMES.search(email.from_name) is not None
    )


def _bounce_reason(email: InboundEmail) -> str | None:
    if (
        email.report is not None
        or email.report_type == "delivery-status"
        or "report-type=delivery-status" in email.content_type
    ):
        return "delivery-status report (RFC 3464)"
    if "x-failed-recipients" in email.auto_reply_headers:
        return "bounce: X-Failed-Recipients"
    subject = fold(email.subject)
    failed = email.bounce_recipients
    if _daemon_sender(email) or _null_sender(email):
        if BOUNCE_SUBJECT.search(subject):
            return f"bounce: subject {email.subject[:80]!r}"
        if BOUNCE_TEXT.search(fold(email.text[:TEXT_CHARS])):
            return f"bounce: notice from {email.from_addr or email.return_path}"
        if failed:
            return f"bounce: failed recipient {failed[0]} (flufl.bounce)"
        return None
    if failed and BOUNCE_SUBJECT_START.search(subject):
        return f"bounce: subject {email.subject[:80]!r}, failed recipient {failed[0]}"
    bounce_address = _to_bounce_address(email)
    if failed and bounce_address:
        return f"bounce: sent to {bounce_address[:80]}, failed recipient {failed[0]}"
    return None


def _to_bounce_address(email: InboundEmail) -> str | None:
    """A list's or a bulk sender's bounce address this mail was sent to: only machines
    answer those (bounces and auto-replies go to the envelope sender, RFC 3834 §4)."""
    return next((a for a in email.to if BOUNCE_ADDRESS.search(a)), None)


def _auto_reply_reason(email: InboundEmail) -> str | None:
    report = REPORTS.get(email.report_type)
    if report is None and email.report_type:
        report = f"report ({email.report_type[:40]})"
    if report:
        return report
    auto_submitted = (email.auto_submitted or "").strip().lower()
    if auto_submitted and auto_submitted.split(";")[0].strip() != "no":
        return f"auto-submitted: {auto_submitted[:80]}"
    for name, value in email.auto_reply_headers.items():
        rule = HEADER_VALUES.get(name)
        if rule is None or rule.search(value):
            return f"{name}: {value.strip()[:80]}"
    precedence = (email.precedence or "").strip().lower()
    if precedence in BULK_PRECEDENCE:
        return f"precedence: {precedence}"
    if email.list_id:
        return f"list-id: {email.list_id.strip()[:80]}"
    subject = fold(email.subject)
    if OUT_OF_OFFICE.search(subject):
        return f"out-of-office subject: {email.subject[:80]!r}"
    if COMPLAINT_SUBJECT.match(subject):
        return "feedback report (complaint without RFC 5965 structure)"
    if NOTES_RECEIPT.search(fold(email.text[:2_000])):
        return "read receipt (Lotus Notes)"
    if NOTIFICATION_SENDER.match(email.from_addr):
        return f"notification sender: {email.from_addr[:80]}"
    if _null_sender(email):
        return "empty return path (bounce)"
    if email.return_path and BULK_RETURN_PATH.search(email.return_path.strip()):
        return f"bulk sender: return path {email.return_path.strip()[:80]}"
    bounce_address = _to_bounce_address(email)
    if bounce_address:
        return f"sent to a bounce address: {bounce_address[:80]}"
    return None


def delivery_report(email: InboundEmail) -> DeliveryReport:
    """The report of a bounce: the parsed RFC 3464 one, else what its text tells."""
    report = email.report or DeliveryReport()
    text = email.text[:20_000]
    if not report.status:
        found = ENHANCED_STATUS.search(text) or SMTP_REPLY.search(text)
        status = found.group(1) if found else ""
        delayed = email.bounce_delayed or DELAY.search(email.subject) is not None
        action = "delayed" if delayed else report.action
        report = report.model_copy(update={"status": status, "action": action})
    if not report.recipients:
        recipients = email.bounce_recipients or _failed_recipients(email, text)
        report = report.model_copy(update={"recipients": recipients})
    if report.original_message_id is None:
        ids = [i for i in ORIGINAL_ID.findall(text) if i != email.message_id]
        if ids:
            report = report.model_copy(update={"original_message_id": ids[0]})
    return report


def _failed_recipients(email: InboundEmail, text: str) -> tuple[str, ...]:
    ours = {email.from_addr, *email.to}
    found = [m.group(1) or m.group(2) for m in FAILED_RECIPIENT.finditer(text)]
    found += [m.group(1) for m in FAILED_LIST.finditer(text)]
    return tuple(dict.fromkeys(a.lower() for a in found if a.lower() not in ours))[:10]
