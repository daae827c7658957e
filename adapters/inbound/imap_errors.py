"""The kind of error that ended an IMAP session, for the `error` label of
`mailroom_imap_errors_total` (a fixed list: connect, login, fetch, other)."""

from __future__ import annotations

from imapclient.exceptions import LoginError

from adapters.inbound.imap_session import LoginFailed
from use_cases.ports import HandoffFailed

IMAP_ERRORS = ("connect", "login", "fetch", "other")  # every value session_error gives


def session_error(status: str, exc: BaseException) -> str:
    """`status`: what the source was doing (ImapInbound.status) when `exc` ended it."""
    if isinstance(exc, LoginError | LoginFailed):
        return "login"
    if status == "connecting":
        return "connect"
    # HandoffFailed: Temporal not taking the mail, not the IMAP server failing
    if status in {"selecting", "fetching", "polling", "idle"} and not isinstance(
        exc, HandoffFailed
    ):
        return "fetch"
    return "other"
