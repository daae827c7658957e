"""aiosmtpd's SMTP protocol with mailroom's front-door rules (Postfix is the anchor).

Connection admission (limits per server and per client) lives in `smtp_admission.py`;
the protocol rules (DATA spooled to disk, bare LF, pipelining, STARTTLS, AUTH) here.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, AnyStr

import structlog
from aiosmtpd.smtp import (
    MISSING,
    SMTP,
    AuthResult,
    Envelope,
    LoginPassword,
    Session,
    TLSSetupException,
)

from adapters.inbound.smtp import REASONS, declared_size
from adapters.inbound.smtp_admission import (
    BUSY,
    BUSY_CLIENT,
    SESSION_EXPIRED,
    SHED,
    TRANSFERS_BUSY,
    Admission,
    client_key,
)
from adapters.inbound.smtp_data import BareLf, DataRefusal, Spool, receive_data
from adapters.inbound.smtp_outcomes import classify, closing
from adapters.inbound.smtp_paths import PlainPathSMTP
from adapters.inbound.smtp_security import Credentials

log = structlog.get_logger()

# RFC 2920 §3.1: only after these may a client send more before their reply; EHLO, DATA,
# VRFY, EXPN, TURN, QUIT, NOOP end a group, and so do STARTTLS (RFC 3207 §4.2, CVE-2011-0411)
# and AUTH. Without EHLO there is no PIPELINING, so every command waits for its reply.
MAY_BE_FOLLOWED = frozenset({"RSET", "MAIL", "RCPT", "SEND", "SOML", "SAML"})
# Postfix: smtpd_forbid_unauth_pipelining (OUT_OF_SYNC, also before the greeting) and
# postscreen's pregreet test; both disconnect. Ours says which rule the client broke.
EARLY_TALKER = "554 5.5.1 Error: client sent data before the greeting"
OUT_OF_SYNC = "554 5.5.0 Error: SMTP protocol synchronization"
NO_AUTH = "503 5.5.1 Error: authentication not enabled"
# Postfix's smtpd_hard_error_limit is 20 errors of any kind; a password guesser gets fewer.
MAX_AUTH_FAILURES = 3
AUTH_FAILURES = "421 4.7.0 Error: too many failed authentications"
HARD_ERROR_LIMIT = 20
TOO_MANY_ERRORS = "421 4.7.0 Error: too many errors"
# aiosmtpd refuses a MAIL whose SIZE= is over the limit before any hook, without an enhanced
# status code (RFC 3463 §3.4): answered in Postfix's words instead (smtpd_check_size).
AIOSMTPD_SIZE_REFUSAL = "552 Error: message size exceeds fixed maximum message size"
SIZE_REFUSAL = "552 5.3.4 Message size exceeds fixed limit"
AUTH_BUSY = "454 4.7.0 Temporary authentication failure"
AUTH_RATE = "421 4.7.0 Error: too many failed authentications from this client, try later"
# Postfix's answers to an idle client and to its own trouble (a bug, a spool it cannot
# make): 421 and close, so nothing the client sends next is read in the wrong state; the
# sender retries whatever was not answered 250. Never aiosmtpd's "500 Error: (Type) text".
IDLE_TIMEOUT = "421 4.4.2 {hostname} Error: timeout exceeded"
INTERNAL_ERROR = "421 4.3.0 {hostname} Error: local problem, closing connection"
# The metrics' `reason` of each answer mailroom closes a connection with.
CLOSINGS = {
    BUSY: "busy",
    BUSY_CLIENT: "busy_client",
    SHED: "shed",
    SESSION_EXPIRED: "session_expired",
    EARLY_TALKER: "early_talker",
    OUT_OF_SYNC: "out_of_sync",
    AUTH_FAILURES: "auth_failures",
    AUTH_RATE: "auth_rate",
    TOO_MANY_ERRORS: "too_many_errors",
    IDLE_TIMEOUT: "idle_timeout",
    INTERNAL_ERROR: "internal_error",
}
DATA_FAILED = "451 4.3.0 Error: local problem handling the message, try again later"
# The metrics' `reason` of the answers about a mail the session gives without the handler's
# hooks (smtp.py counts those): size refusals, DATA's checks before its 354, the body's.
ANSWER_REASONS = {
    **REASONS,
    SIZE_REFUSAL: "size",
    DataRefusal.TOO_LONG.value: "line_too_long",
    DataRefusal.TOO_MUCH.value: "too_much_data",
    DataRefusal.BARE_LF.value: "bare_lf",
    DataRefusal.NO_SPACE.value: "storage",
    DataRefusal.NO_SPOOL.value: "spool",
    DATA_FAILED: "failed",
    TRANSFERS_BUSY: "transfers_busy",
}
# A connection we close whose replies the client does not read (its socket's buffers full)
# never finishes closing: `close()` waits to flush them. After this long it is aborted, so
# its socket goes. One second lets a slow but reading client take its last reply (a 421
# fits in one packet); a client that left a kernel buffer full unread is not reading.
CLOSE_GRACE_SECONDS = 1.0
# Unexpected exceptions are logged one line each, at most this often (the rest counted).
ERROR_LOG_INTERVAL_SECONDS = 1.0
EhloHook = Callable[[SMTP, Session, Envelope, str, list[str]], Awaitable[list[str]]]


@dataclass(frozen=True)
class SessionRules:
    """What a listener's connections apply beyond aiosmtpd's protocol."""

    spool: Spool = field(default_factory=Spool)
    # A line ending in a bare <LF> in DATA: refused 550 (Postfix's smtpd_forbid_bare_newline
    # = yes), or taken as <CR><LF> (= normalize)
    bare_lf: BareLf = BareLf.REJECT
    # Wait this long before the 220 greeting; a client that talks meanwhile is refused
    # (Postfix's postscreen_greet_wait). 0: only input already there is caught.
    greet_pause_seconds: float = 0.0
    # AUTH PLAIN/LOGIN is offered, after STARTTLS only, when there are credentials.
    credentials: Credentials | None = None


class MailroomSMTP(PlainPathSMTP):
    """One SMTP connection."""

    def __init__(self, handler: Any, *, rules: SessionRules | None = None, **options: Any) -> None:
        super().__init__(handler, **options)
        self.rules = rules or SessionRules()
        self._greeted = False
        self._auth_failures = 0
        self._login: LoginPassword | None = None
        self._hung_up = False  # we closed the connection: nothing more is written
        self._lost = False  # aiosmtpd's session ended (we may end it before the socket goes)
        self._gone = False  # the socket is gone: connection_lost came (or we aborted it)
        self._abort_scheduled = False
        self.gone = asyncio.Event()  # set with _gone
        self._commands = 0  # commands being answered
        self._receiving_body = False
        self._eof_pending = False  # the client half-closed while a command was answered
        # Every command goes through the pipelining check (RFC 2920), DATA included.
        self._smtp_methods = {
            command: self._in_sync(command, method)
            for command, method in self._smtp_methods.items()
        }
        # EHLO's reply through our hook, then the handler's, if it has one.
        handler_ehlo = self._handle_hooks.get("EHLO") if self._ehlo_hook_ver == "new" else None
        self._handler_ehlo: EhloHook | None = handler_ehlo
        self._handle_hooks["EHLO"] = self._ehlo_reply
        self._ehlo_hook_ver = "new"

    # -- early talkers and pipelining ------------------------------------------------------

    async def push(self, status: AnyStr) -> None:
        if self._hung_up:
            return  # e.g. aiosmtpd's reply after handle_exception closed the connection
        if status == AIOSMTPD_SIZE_REFUSAL:  # aiosmtpd's, to MAIL's SIZE= over the limit
            status = self._counted("mail", SIZE_REFUSAL)  # type: ignore[assignment]  # AnyStr: str
        if not self._greeted:  # the first reply is the 220 greeting
            self._greeted = True
            if self.rules.greet_pause_seconds > 0:
                await asyncio.sleep(self.rules.greet_pause_seconds)
            if self._input_waiting():
                log.warning("smtp_early_talker_refused", peer=str(self._peer()))
                await self._refuse_and_close(EARLY_TALKER)
                return
        await super().push(status)
        if _is_error(status):
            await self._count_error()

    def _in_sync(
        self, command: str, method: Callable[[str | None], Awaitable[None]]
    ) -> Callable[[str | None], Awaitable[None]]:
        async def in_sync(arg: str | None) -> None:
            assert self.session is not None
            may_be_followed = self.session.extended_smtp and command in MAY_BE_FOLLOWED
            if command != "QUIT" and not may_be_followed and self._input_waiting():
                log.warning("smtp_pipelining_refused", command=command, peer=str(self._peer()))
                await self._refuse_and_close(OUT_OF_SYNC)
                return
            self._commands += 1
            try:
                await method(arg)
            finally:
                self._commands -= 1
            if self._eof_pending and not self._input_waiting():
                self._hang_up(None)  # answered; the client sends nothing more

        return in_sync

    def _input_waiting(self) -> bool:
        """Whether the client sent more than the line just read: it did not wait for our
        reply. (aiosmtpd reads commands line by line, so the rest is in the reader.)"""
        return bool(self._reader._buffer)  # type: ignore[attr-defined]

    def _count_closing(self, reply: str) -> None:
        metrics = getattr(self.event_handler, "metrics", None)
        if metrics is not None:
            said = closing(reply, CLOSINGS)
            metrics.connection_closed(said.code, said.reason)

    async def _refuse_and_close(self, reply: str) -> None:
        self._count_closing(reply)
        self._reader._buffer.clear()  # type: ignore[attr-defined]  # never read as commands
        await super().push(reply)
        self._hung_up = True
        self._close_transport()

    def _close_transport(self) -> None:
        """Close the socket once our replies are written, or abort it after
        CLOSE_GRACE_SECONDS: a client that does not read them must not keep it open."""
        transport = self.transport
        if transport is None or self._abort_scheduled:
            return
        self._abort_scheduled = True
        transport.close()
        self.loop.call_later(CLOSE_GRACE_SECONDS, self._abort_unless_gone, transport)

    def _abort_unless_gone(self, transport: asyncio.BaseTransport) -> None:
        if self._gone:
            return
        log.info("smtp_close_aborted_unread_replies", peer=str(self._peer()))
        self._abort(transport)

    def _abort(self, transport: asyncio.BaseTransport | None) -> None:
        if isinstance(transport, asyncio.Transport):
            transport.abort()  # connection_lost follows, and gives the place back
        original = self._original_transport  # under TLS: the socket's own transport
        if isinstance(original, asyncio.Transport) and original is not transport:
            original.abort()

    def close_now(self) -> None:
        """Close at once, unanswered (the listener stops): see _hang_up."""
        if not self._refused and not self._lost:
            self._hang_up(None)

    def abort(self) -> None:
        """Drop the socket now, replies unsent or not (the listener's stop is out of time)."""
        writer = getattr(self, "_writer", None)
        if not self._gone and writer is not None:
            self._abort(writer.transport)

    def _hang_up(self, reply: str | None) -> None:
        """Write `reply` (if any) and close now, ending the session in this loop step: its
        command loop sees no transport and reads nothing more. Its place is given back when
        the socket is gone (connection_lost), at the latest CLOSE_GRACE_SECONDS after."""
        self._reader._buffer.clear()  # type: ignore[attr-defined]
        self._hung_up = True
        transport = self.transport
        if transport is not None:
            if reply is not None:
                self._count_closing(reply)
                assert isinstance(transport, asyncio.WriteTransport)
                transport.write(reply.format(hostname=self.hostname).encode("ascii") + b"\r\n")
            self._close_transport()  # the reply is flushed first
            self._end_session(None)

    # -- what aiosmtpd leaves to a 500 with the exception's text ---------------------------

    async def handle_exception(self, error: Exception) -> str:
        """An exception out of a command: one log line (no traceback, rate-limited), 421 and
        close. The string returned is what aiosmtpd pushes after: nothing, we hung up."""
        if isinstance(error, TLSSetupException):  # aiosmtpd closes the connection itself
            reason = error.__cause__ if error.__cause__ is not None else error
            log.info("smtp_starttls_failed", peer=str(self._peer()), error=_brief(reason))
            self._hung_up = True
            return ""
        if isinstance(error, (ConnectionError, asyncio.IncompleteReadError)):
            self._hang_up(None)  # the client went: nobody to answer
            return ""
        _log_unexpected(error, self._peer())
        self._hang_up(INTERNAL_ERROR)
        return ""

    def _getparams(self, params: Any) -> dict[str, Any] | None:
        """aiosmtpd's MAIL/RCPT parameters; a SIZE= that is not ASCII digits is a syntax
        error (aiosmtpd's `str.isdigit` takes "²", and `int()` then raised)."""
        parsed: dict[str, Any] | None = super()._getparams(params)
        size = parsed.get("SIZE") if parsed is not None else None
        if isinstance(size, str) and not (size.isascii() and size.isdigit()):
            return None  # aiosmtpd answers 501
        return parsed

    def _create_session(self) -> Session:
        return _QuietSession(self.loop)

    # -- idle timeout, STARTTLS and end of input -------------------------------------------

    def _timeout_cb(self) -> None:
        if self._handshaking():
            log.info("smtp_starttls_timeout", peer=str(self._peer()))
            self._abandon_handshake()
            return
        log.info("smtp_timeout", peer=str(self._peer()))
        self._hang_up(IDLE_TIMEOUT)

    async def _call_handler_hook(self, command: str, *args: Any) -> Any:
        """While the handler works out a reply (a held MAIL, a hand-off) the client waits on
        us: the idle timer is paused, and restarted once the reply is known, so it bounds
        the writing of the reply too (a client that does not read it)."""
        if self._timeout_handle is not None:
            self._timeout_handle.cancel()  # kept: connection_lost cancels it again
        try:
            return await super()._call_handler_hook(command, *args)
        finally:
            if not self._lost:
                self._reset_timeout()

    def _handshaking(self) -> bool:
        """STARTTLS was answered 220 and the TLS connection is not made (yet)."""
        return self._original_transport is not None and (
            self.session is None or self.session.ssl is None
        )

    def _abandon_handshake(self) -> None:
        """Close a connection whose TLS handshake did not finish. Python 3.11's SSL layer
        drops such a connection without telling us (no connection_lost) and wakes
        smtp_STARTTLS as if it had succeeded: its place and count would be held for ever."""
        assert isinstance(self._original_transport, asyncio.Transport)
        self._hung_up = True
        self._original_transport.abort()
        self.connection_lost(None)

    async def smtp_STARTTLS(self, arg: str) -> None:
        await super().smtp_STARTTLS(arg)
        if self._handshaking() and not self._lost:
            log.info("smtp_starttls_failed", peer=str(self._peer()), error="connection lost")
            self._abandon_handshake()

    def eof_received(self) -> bool | None:
        """The client half-closed (`nc -N`, a QUIT written with the final dot). aiosmtpd
        cancels the session at once, which cut a hand-off short and never answered it:
        while a command is answered (not while a body is read), answer it, then close."""
        if self._commands and not self._receiving_body and not self._lost:
            log.info("smtp_eof_while_answering", peer=str(self._peer()))
            self._eof_pending = True
            self._reader.feed_eof()
            tls = self.session is not None and self.session.ssl is not None
            return not tls  # keep writing (TLS cannot half-close: it closes, answer lost)
        return super().eof_received()

    def _peer(self) -> object:
        return self.session.peer if self.session is not None else None

    async def _ehlo_reply(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, replies: list[str]
    ) -> list[str]:
        session.host_name = hostname  # aiosmtpd leaves this to a hook when there is one
        if self.rules.credentials is None:
            replies = [reply for reply in replies if not reply.startswith("250-AUTH")]
        replies.insert(len(replies) - 1, "250-PIPELINING")  # before the last, "250 HELP"
        if self._handler_ehlo is not None:
            replies = await self._handler_ehlo(server, session, envelope, hostname, replies)
        return replies

    # -- DATA, spooled ---------------------------------------------------------------------

    async def smtp_DATA(self, arg: str | None) -> None:
        """aiosmtpd 1.4.6's smtp_DATA, reading the body with `receive_data` (spooled to
        disk past a few MB, bare <LF> refused)."""
        if await self.check_helo_needed():
            return
        if await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        # Before the 354, so a full disk costs the sender no transfer (smtp.py STORAGE_FULL).
        storage_refusal = getattr(self.event_handler, "storage_refusal", None)
        if storage_refusal is not None:
            size = declared_size(self.envelope.mail_options)
            refusal = storage_refusal("DATA", size, self.session)
            if refusal is not None:
                await self.push(self._counted("data", refusal))
                return
        # And while the bodies awaiting hand-off hold the memory budget (smtp.py PENDING_FULL).
        pending_refusal = getattr(self.event_handler, "pending_refusal", None)
        if pending_refusal is not None:
            size = declared_size(self.envelope.mail_options)
            refusal = pending_refusal("DATA", size, self.session)
            if refusal is not None:
                await self.push(self._counted("data", refusal))
                return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        self._receiving_body = True
        try:
            received = await receive_data(
                self._reader,
                self.rules.spool,
                size_limit=self.data_size_limit,
                line_limit=self.line_length_limit,
                bare_lf=self.rules.bare_lf,
                progress=self._reset_timeout,
            )
        finally:
            self._receiving_body = False
        if isinstance(received, DataRefusal):
            self.envelope = self._create_envelope()  # as aiosmtpd's _set_post_data_state
            log.warning("smtp_data_refused", reason=received.name, peer=str(self._peer()))
            if received is DataRefusal.BARE_LF:  # Postfix disconnects too
                await self._refuse_and_close(self._counted("data", received.value))
            else:
                await self.push(self._counted("data", received.value))
            return
        self.envelope.original_content = received
        self.envelope.content = (
            received.decode("utf-8", errors="surrogateescape") if self._decode_data else received
        )
        try:
            status = await self._call_handler_hook("DATA")
        except Exception as exc:  # the body was read to its dot: answer, stay in sync
            _log_unexpected(exc, self._peer())
            status = self._counted("data", DATA_FAILED)
        self.envelope = self._create_envelope()  # as aiosmtpd's _set_post_data_state
        await self.push("250 OK" if status is MISSING else status)

    def _counted(self, stage: str, reply: str) -> str:
        """`reply`, counted in the handler's metrics (an answer no hook of its gave)."""
        metrics = getattr(self.event_handler, "metrics", None)
        if metrics is not None:
            said = classify(reply, ANSWER_REASONS)
            metrics.mail_answered(stage, said.outcome, said.code, said.reason)
        return reply

    # -- AUTH ------------------------------------------------------------------------------

    async def smtp_AUTH(self, arg: str) -> None:
        if self.rules.credentials is None:
            await self.push(NO_AUTH)
            return
        await super().smtp_AUTH(arg)

    def _authenticate(self, mechanism: str, auth_data: Any) -> AuthResult:
        # aiosmtpd calls this synchronously from auth_PLAIN/auth_LOGIN; the check itself
        # (scrypt) runs on a worker thread in `_checked`, which those two await.
        self._login = auth_data if isinstance(auth_data, LoginPassword) else None
        return AuthResult(success=False, handled=False)

    async def auth_PLAIN(self, _: Any, args: list[str]) -> AuthResult:
        return await self._checked(await super().auth_PLAIN(_, args))

    async def auth_LOGIN(self, _: Any, args: list[str]) -> AuthResult:
        return await self._checked(await super().auth_LOGIN(_, args))

    async def _checked(self, result: AuthResult) -> AuthResult:
        login, self._login = self._login, None
        if login is None or self.rules.credentials is None:
            return result  # the client gave up or sent something unreadable: answered
        credentials, host = self.rules.credentials, self._client_key()
        if credentials.failures.exceeded(host):
            log.warning("smtp_auth_rate_limited", peer=str(self._peer()))
            await self._refuse_and_close(AUTH_RATE)
            return AuthResult(success=False, handled=True)
        verdict = await credentials.check(login.login, login.password)
        if verdict is None:
            log.warning("smtp_auth_busy", peer=str(self._peer()))
            return AuthResult(success=False, handled=False, message=AUTH_BUSY)
        if verdict:
            log.info("smtp_authenticated", user=login.login.decode("utf-8", "replace"))
            return AuthResult(success=True, handled=False, auth_data=login)
        credentials.failures.record(host)
        self._auth_failures += 1
        log.warning("smtp_auth_failed", peer=str(self._peer()), failures=self._auth_failures)
        if self._auth_failures >= MAX_AUTH_FAILURES:
            await self._refuse_and_close(AUTH_FAILURES)
            return AuthResult(success=False, handled=True)
        return AuthResult(success=False, handled=False)

    # -- admission (smtp_admission.py) -----------------------------------------------------
    # Set by the listener's protocol factory before the connection is made; None: no limits.
    admission: Admission | None = None
    _refused = False
    _deadline: asyncio.TimerHandle | None = None
    _answered_at = 0.0  # loop time of the last reply to a command (or of the greeting)
    _answering = False
    _client = ""  # the client's address
    _errors = 0
    # Postfix's smtpd_hard_error_limit: after this many 4xx/5xx replies to commands (bad
    # commands, empty lines, refused recipients), 421 and close. A client that keeps getting
    # errors is broken or probing; answering it for ever costs a place and CPU.
    hard_error_limit = HARD_ERROR_LIMIT

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._original_transport is not None or self.admission is None:
            super().connection_made(transport)  # after STARTTLS: the same, admitted connection
            return
        host = self._client = _host(transport.get_extra_info("peername"))
        refusal = self.admission.admit(host, self.hostname, self)
        if refusal is not None:
            # Answered and closed before aiosmtpd starts anything for it (Postfix: anvil's
            # "421 4.7.0 Error: too many connections"): a refused flood costs no session.
            self._refused = True
            self._count_closing(refusal)
            assert isinstance(transport, asyncio.WriteTransport)
            transport.write(refusal.encode("ascii") + b"\r\n")
            transport.close()
            return
        self._deadline = self.loop.call_later(
            self.admission.limits.session_seconds, self._close_with, SESSION_EXPIRED
        )
        # Every command marks the connection busy until answered, and DATA takes a place
        # among the transfers under way before its 354 (smtp_DATA is the protocol rules'
        # own; these wrap the commands, pipelining check included, from outside).
        # Idle from the greeting on: one still in its pause (greet_pause_seconds) is not.
        self._answered_at = self.loop.time() + self.rules.greet_pause_seconds
        methods = {command: self._busy_while(m) for command, m in self._smtp_methods.items()}
        methods["DATA"] = self._busy_while(self._with_transfer_place(self._smtp_methods["DATA"]))
        self._smtp_methods = methods
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        """The socket is gone: its place is given back (not before: a connection we closed
        whose client does not read stays open until aborted, see _close_transport)."""
        self._gone = True
        self.gone.set()
        if self._refused:
            return  # nothing of aiosmtpd's was started for it
        if self._deadline is not None:
            self._deadline.cancel()
        if self.admission is not None:
            self.admission.release(self)
        self._end_session(error)

    def _end_session(self, error: Exception | None) -> None:
        """aiosmtpd's end of session (its command loop cancelled), once."""
        if self._lost:
            return
        self._lost = True
        super().connection_lost(error)

    def idle_seconds(self) -> float | None:
        """Since our last reply; None while a command is being answered (a DATA transfer, a
        hand-off, a held MAIL: the client waits on us) or during the greeting pause."""
        if self._answering:
            return None
        idle = self.loop.time() - self._answered_at
        return idle if idle >= 0 else None

    def _client_key(self) -> str:
        """The client as per-client limits count it (an IPv6 one by its prefix)."""
        host = self._client or _host(self._peer())
        return self.admission.limits.client(host) if self.admission else client_key(host)

    def event_handler_handoff(self) -> asyncio.Future[Any] | None:
        """The hand-off the handler runs for this connection's DATA, if any."""
        handoff_of = getattr(self.event_handler, "handoff_of", None)
        return handoff_of(self.session) if handoff_of is not None else None

    def in_transaction(self) -> bool:
        return self.envelope is not None and bool(self.envelope.mail_from)

    async def _count_error(self) -> None:
        self._errors += 1
        if self._errors >= self.hard_error_limit:
            log.warning("smtp_error_limit", peer=str(self._peer()), errors=self._errors)
            await self._refuse_and_close(TOO_MANY_ERRORS)

    def shed(self, reply: str) -> None:
        self._close_with(reply)  # logged by admission, at most once a second

    def _close_with(self, reply: str) -> None:
        """An unasked 421, then close. The session deadline: Postfix has none; it bounds a
        client that stays just inside the idle timeout forever. A transaction cut short was
        not answered 250, so its sender retries."""
        if reply is SESSION_EXPIRED:
            log.warning("smtp_session_expired", peer=str(self._peer()))
        if self.transport is not None and not self.transport.is_closing():
            self._count_closing(reply)
            assert isinstance(self.transport, asyncio.WriteTransport)
            self.transport.write(reply.format(hostname=self.hostname).encode() + b"\r\n")
            self._close_transport()

    def _busy_while(
        self, command: Callable[[str | None], Awaitable[None]]
    ) -> Callable[[str | None], Awaitable[None]]:
        async def busy(arg: str | None) -> None:
            self._answering = True
            try:
                await command(arg)
            finally:
                self._answering = False
                self._answered_at = self.loop.time()

        return busy

    def _with_transfer_place(
        self, data: Callable[[str | None], Awaitable[None]]
    ) -> Callable[[str | None], Awaitable[None]]:
        assert self.admission is not None
        transfers = self.admission.transfers

        async def data_with_place(arg: str | None) -> None:
            if self.envelope is None or not self.envelope.rcpt_tos:
                await data(arg)  # a DATA out of place is answered by smtp_DATA as before
                return
            taken = transfers.take(self._client)
            if taken is None:
                if self._input_waiting():  # a body sent before our 354: never commands
                    log.warning("smtp_pipelining_refused", command="DATA", peer=str(self._peer()))
                    await self._refuse_and_close(OUT_OF_SYNC)
                    return
                log.warning("smtp_data_deferred_busy", peer=str(self._peer()))
                await self.push(self._counted("data", TRANSFERS_BUSY))
                return
            handoff = None
            try:
                await data(arg)
            except asyncio.CancelledError:  # the client left: its hand-off may run on
                handoff = self.event_handler_handoff()
                raise
            finally:
                if handoff is None or handoff.done():
                    transfers.give_back(taken)
                else:  # held until the hand-off ends: orphans count against the client
                    handoff.add_done_callback(lambda _: transfers.give_back(taken))

        return data_with_place


def _is_error(status: str | bytes) -> bool:
    """A 4xx/5xx reply to a command counts toward the error limit; 452 4.5.3 (recipients past
    a limit, sent again in the next transaction) does not, as Postfix's recipient overshoot,
    and a 421 closes the connection anyway."""
    reply = status.decode("ascii", "replace") if isinstance(status, bytes) else status
    return reply[:1] in ("4", "5") and not reply.startswith(("452 4.5.3", "421"))


class _QuietSession(Session):
    """aiosmtpd's Session, without the deprecation warning its own smtp_AUTH triggers by
    setting `login_data` on every successful AUTH (we read `auth_data`)."""

    @property
    def login_data(self) -> Any:
        return self._login_data

    @login_data.setter
    def login_data(self, value: Any) -> None:
        self._login_data = value


_last_logged = 0.0
_not_logged = 0


def _log_unexpected(error: BaseException, peer: object) -> None:
    """One line for an exception no rule answers (where it was raised, not a traceback), at
    most once per ERROR_LOG_INTERVAL_SECONDS: a client able to trigger it cannot flood."""
    global _last_logged, _not_logged
    now = time.monotonic()
    if now - _last_logged < ERROR_LOG_INTERVAL_SECONDS:
        _not_logged += 1
        return
    frames = traceback.extract_tb(error.__traceback__)
    where = f"{frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}" if frames else None
    log.error(
        "smtp_session_error",
        error_type=type(error).__name__,
        error=_brief(error),
        where=where,
        peer=str(peer),
        not_logged_since=_not_logged,
    )
    _last_logged, _not_logged = now, 0


def _brief(error: BaseException) -> str:
    return (str(error) or type(error).__name__)[:200]


def _host(peername: Any) -> str:
    return str(peername[0]) if isinstance(peername, tuple) and peername else str(peername)
