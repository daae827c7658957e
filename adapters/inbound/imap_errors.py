"""The kind of error that ended an IMAP session, for the `error` label of
`mailroom_imap_errors_total` (a fixed list: connect, login, fetch, other)."""

from __future__ import annotations

IMAP_ERRORS = ("connect", "login", "fetch", "other")  # every value session_error gives


def session_error(status: str, exc: BaseException) -> str:
    """`status`: what the source was doing (ImapInbound.status) when `exc` ended it."""
    if "login" in type(exc).__name__.lower():  # imapclient's LoginError, our LoginFailed
        return "login"
    if status == "connecting":
        return "connect"
    if status in {"selecting", "fetching", "polling", "idle"} and not _handoff(exc):
        return "fetch"
    return "other"


def _handoff(exc: BaseException) -> bool:
    """Temporal not taking the mail, not the IMAP server failing (use_cases HandoffFailed)."""
    return type(exc).__name__ == "HandoffFailed"
