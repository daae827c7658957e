"""aiosmtpd's SMTP protocol with mailroom's front-door rules (Postfix is the anchor).

Connection admission (limits per server and per client) lives in `smtp_admission.py`;
the protocol rules (DATA spooled to disk, bare LF, pipelining, STARTTLS, AUTH) here.
"""

from __future__ import annotations

from aiosmtpd.smtp import SMTP


class MailroomSMTP(SMTP):
    """One SMTP connection."""
