"""aiosmtpd's SMTP protocol with mailroom's front-door rules (Postfix is the anchor).

Connection admission (limits per server and per client) lives in `smtp_admission.py`;
the protocol rules (DATA spooled to disk, bare LF, pipelining, STARTTLS, AUTH) here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, AnyStr

import structlog
from aiosmtpd.smtp import MISSING, SMTP, AuthResult, Envelope, LoginPassword, Session

from adapters.inbound.smtp import declared_size
from adapters.inbound.smtp_admission import SESSION_EXPIRED, TRANSFERS_BUSY, Admission
from adapters.inbound.smtp_data import BareLf, DataRefusal, Spool, receive_data
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


class MailroomSMTP(SMTP):
    """One SMTP connection."""

    def __init__(self, handler: Any, *, rules: SessionRules | None = None, **options: Any) -> None:
        super().__init__(handler, **options)
        self.rules = rules or SessionRules()
        self._greeted = False
        self._auth_failures = 0
        self._login: LoginPassword | None = None
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
        if status == AIOSMTPD_SIZE_REFUSAL:
            status = SIZE_REFUSAL  # type: ignore[assignment]  # AnyStr: str here
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
            await method(arg)

        return in_sync

    def _input_waiting(self) -> bool:
        """Whether the client sent more than the line just read: it did not wait for our
        reply. (aiosmtpd reads commands line by line, so the rest is in the reader.)"""
        return bool(self._reader._buffer)  # type: ignore[attr-defined]

    async def _refuse_and_close(self, reply: str) -> None:
        self._reader._buffer.clear()  # type: ignore[attr-defined]  # never read as commands
        await super().push(reply)
        if self.transport is not None:
            self.transport.close()

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
                await self.push(refusal)
                return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        received = await receive_data(
            self._reader,
            self.rules.spool,
            size_limit=self.data_size_limit,
            line_limit=self.line_length_limit,
            bare_lf=self.rules.bare_lf,
            progress=self._reset_timeout,
        )
        if isinstance(received, DataRefusal):
            self.envelope = self._create_envelope()  # as aiosmtpd's _set_post_data_state
            log.warning("smtp_data_refused", reason=received.name, peer=str(self._peer()))
            if received is DataRefusal.BARE_LF:  # Postfix disconnects too
                await self._refuse_and_close(received.value)
            else:
                await self.push(received.value)
            return
        self.envelope.original_content = received
        self.envelope.content = (
            received.decode("utf-8", errors="surrogateescape") if self._decode_data else received
        )
        status = await self._call_handler_hook("DATA")
        self.envelope = self._create_envelope()  # as aiosmtpd's _set_post_data_state
        await self.push("250 OK" if status is MISSING else status)

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
        verify = self.rules.credentials.verify
        if await asyncio.to_thread(verify, login.login, login.password):
            log.info("smtp_authenticated", user=login.login.decode("utf-8", "replace"))
            return AuthResult(success=True, handled=False, auth_data=login)
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
        if self._refused:
            return  # nothing of aiosmtpd's was started for it
        if self._deadline is not None:
            self._deadline.cancel()
        if self.admission is not None:
            self.admission.release(self)
        super().connection_lost(error)

    def idle_seconds(self) -> float | None:
        """Since our last reply; None while a command is being answered (a DATA transfer, a
        hand-off, a held MAIL: the client waits on us) or during the greeting pause."""
        if self._answering:
            return None
        idle = self.loop.time() - self._answered_at
        return idle if idle >= 0 else None

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
        if self.transport is not None:
            assert isinstance(self.transport, asyncio.WriteTransport)
            self.transport.write(reply.format(hostname=self.hostname).encode() + b"\r\n")
            self.transport.close()

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
            with transfers.place(self._client) as admitted:
                if admitted or self.envelope is None or not self.envelope.rcpt_tos:
                    await data(arg)  # a DATA out of place is answered by smtp_DATA as before
                else:
                    log.warning("smtp_data_deferred_busy", peer=str(self._peer()))
                    await self.push(TRANSFERS_BUSY)

        return data_with_place


def _is_error(status: str | bytes) -> bool:
    """A 4xx/5xx reply to a command counts toward the error limit; 452 4.5.3 (recipients past
    a limit, sent again in the next transaction) does not, as Postfix's recipient overshoot,
    and a 421 closes the connection anyway."""
    reply = status.decode("ascii", "replace") if isinstance(status, bytes) else status
    return reply[:1] in ("4", "5") and not reply.startswith(("452 4.5.3", "421"))


def _host(peername: Any) -> str:
    return str(peername[0]) if isinstance(peername, tuple) and peername else str(peername)
