"""Which failures to hand a mail off are permanent: the same bytes would fail the same way on
every retry, so IMAP moves the mail to its quarantine folder and `replay` skips it, instead of
trying it again forever while the mail behind it waits. Both keep the mail, so a misjudged
bug costs an operator a look, never a message. SMTP answers 5xx only for the verdicts that
are certain (PayloadTooLarge, ValidationError) and defers the rest: its 5xx bounces the mail.

Permanent: the message cannot fit a signal (PayloadTooLarge), a model refused it (pydantic's
ValidationError), and the errors a mail's content provokes in code (ValueError and its
UnicodeError, TypeError, LookupError, ArithmeticError, AttributeError, RecursionError).
Everything else may pass: HandoffFailed (Temporal did not acknowledge), OSError (a full disk,
a lost connection), timeouts, and what nobody foresaw.
"""

from __future__ import annotations

from use_cases.claim_check import PayloadTooLarge
from use_cases.ports import HandoffFailed

CONTENT_ERRORS = (
    ValueError,  # PayloadTooLarge, pydantic's ValidationError, UnicodeError, binascii.Error
    TypeError,
    LookupError,
    ArithmeticError,
    AttributeError,
    RecursionError,
)
MAX_REASON_CHARS = 300


def permanent_reason(exc: BaseException) -> str | None:
    """Why this mail can never be handed off; None when a retry may work."""
    if isinstance(exc, HandoffFailed | OSError):
        return None
    if isinstance(exc, PayloadTooLarge):
        return _printable(f"too large for a signal: {exc}")
    if isinstance(exc, CONTENT_ERRORS):
        first_line = str(exc).strip().splitlines()[:1]
        return _printable(f"{type(exc).__name__}: {' '.join(first_line)}")
    return None


def _printable(reason: str) -> str:
    """One line for a log, a table and an SMTP reply: an error may quote the mail's bytes."""
    return "".join(c if c.isprintable() else "?" for c in reason[:MAX_REASON_CHARS])
