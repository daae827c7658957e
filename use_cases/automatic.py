"""Is a message automatic? Automatic mail is never answered automatically (RFC 3834 §2)."""

from __future__ import annotations

from use_cases.models import InboundEmail

BULK_PRECEDENCE = frozenset({"bulk", "junk", "list"})


def automatic_reason(email: InboundEmail) -> str | None:
    """Why this message must not get an automatic answer, or None for a human message."""
    auto_submitted = (email.auto_submitted or "").strip().lower()
    if auto_submitted and auto_submitted.split(";")[0].strip() != "no":
        return f"auto-submitted: {auto_submitted}"
    precedence = (email.precedence or "").strip().lower()
    if precedence in BULK_PRECEDENCE:
        return f"precedence: {precedence}"
    if email.return_path is not None and email.return_path.strip("<> ") == "":
        return "empty return path (bounce)"
    return None
