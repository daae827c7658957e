"""Is a message automatic? Automatic mail is never answered automatically (RFC 3834 §2).

`classify` sorts every message into human / auto-reply / bounce / own mail; the NEW_MESSAGE
signal carries the kind and, in `NewMessage.automatic`, the reason (None for a human).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from use_cases.mail import DeliveryReport, InboundEmail, MailClass, MessageKind

BULK_PRECEDENCE = frozenset({"bulk", "junk", "list"})
DAEMON_SENDERS = re.compile(
    r"^(mailer-daemon|mailer_daemon|postmaster|mail-delivery-subsystem|mail\.delivery|"
    r"maildelivery|mdaemon|bounces?|double-bounce)([+-].*)?@",
    re.IGNORECASE,
)
# Exchange, Gmail, Postfix, Sendmail, qmail, Exim, Domino and their common translations.
BOUNCE_SUBJECT = re.compile(
    r"(undeliver(able|ed)|returned mail|delivery (status notification|failure|has failed|"
    r"failed|problem)|mail delivery (failed|failure|subsystem)|failure notice|"
    r"could not send message|non[- ]?delivery|message not delivered|"
    r"unzustellbar|nicht zugestellt|non remis|no se puede entregar)",
    re.IGNORECASE,
)
BOUNCE_TEXT = re.compile(
    r"(this is the mail system at host|i'm sorry to have to inform you|"
    r"delivery to the following recipient(s)? failed|delivery has failed to these recipients|"
    r"your message (couldn't|could not|wasn't|was not) (be )?delivered|"
    r"address not found|the following addresses had permanent fatal errors|"
    r"this is a permanent error|message could not be delivered|"
    r"has encountered delivery problems)",
    re.IGNORECASE,
)
# Only the fixed phrases clients put in front of an auto-reply's subject ("Automatic reply:
# …", "Out of Office: …", "Abwesenheitsnotiz: …"), so a human's "Vacation plans" stays human.
OUT_OF_OFFICE = re.compile(
    r"^\s*\[?(auto(matic|matische)?[ -]?(reply|response|antwort)|respuesta automática|"
    r"out of (the )?office( reply)?|abwesenheitsnotiz|abwesend|réponse automatique|autosvar|"
    r"fuera de la oficina|on vacation|away from (the )?office)(\]|\s*[:(-]|\s*$)",
    re.IGNORECASE,
)
ENHANCED_STATUS = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")
SMTP_REPLY = re.compile(r"\b([45]\d\d)[ -]")
ORIGINAL_ID = re.compile(r"^\s*message-id:\s*(<[^<>\s]{1,500}>)", re.IGNORECASE | re.MULTILINE)
DELAY = re.compile(r"(warning|delayed|could not send message for past|will retry)", re.IGNORECASE)


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


def _bounce_reason(email: InboundEmail) -> str | None:
    if email.report is not None or "report-type=delivery-status" in email.content_type:
        return "delivery-status report (RFC 3464)"
    if "x-failed-recipients" in email.auto_reply_headers:
        return "bounce: X-Failed-Recipients"
    daemon = DAEMON_SENDERS.match(email.from_addr) is not None
    if not (daemon or _null_sender(email)):
        return None
    if BOUNCE_SUBJECT.search(email.subject):
        return f"bounce: subject {email.subject[:80]!r}"
    if daemon and BOUNCE_TEXT.search(email.text[:5_000]):
        return f"bounce: notice from {email.from_addr}"
    return None


def _auto_reply_reason(email: InboundEmail) -> str | None:
    auto_submitted = (email.auto_submitted or "").strip().lower()
    if auto_submitted and auto_submitted.split(";")[0].strip() != "no":
        return f"auto-submitted: {auto_submitted}"
    for name, value in email.auto_reply_headers.items():
        return f"{name}: {value.strip()[:80]}"
    precedence = (email.precedence or "").strip().lower()
    if precedence in BULK_PRECEDENCE:
        return f"precedence: {precedence}"
    if email.list_id:
        return f"list-id: {email.list_id.strip()[:80]}"
    if OUT_OF_OFFICE.search(email.subject):
        return f"out-of-office subject: {email.subject[:80]!r}"
    if _null_sender(email):
        return "empty return path (bounce)"
    return None


def delivery_report(email: InboundEmail) -> DeliveryReport:
    """The report of a bounce: the parsed RFC 3464 one, else what its text tells."""
    report = email.report or DeliveryReport()
    text = email.text[:20_000]
    if not report.status:
        found = ENHANCED_STATUS.search(text) or SMTP_REPLY.search(text)
        status = found.group(1) if found else ""
        action = "delayed" if DELAY.search(email.subject) else report.action
        report = report.model_copy(update={"status": status, "action": action})
    if report.original_message_id is None:
        ids = [i for i in ORIGINAL_ID.findall(text) if i != email.message_id]
        if ids:
            report = report.model_copy(update={"original_message_id": ids[0]})
    return report
