"""The SMTP listener: aiosmtpd's protocol on our event loop, and its orderly stop."""

from __future__ import annotations

import asyncio
import socket
import ssl
import weakref
from dataclasses import dataclass

import structlog

from adapters.inbound.smtp import SmtpInboundHandler
from adapters.inbound.smtp_admission import Admission
from adapters.inbound.smtp_session import MailroomSMTP, SessionRules

log = structlog.get_logger()

# A hand-off in flight is one signal-with-start (HANDOFF_TIMEOUT in the gateway, 10 s) and a
# few local writes; one still running after this is stuck, and its sender will retry.
STOP_TIMEOUT_SECONDS = 15.0
# Postfix's smtpd_timeout: how long a client may take to send its next command.
IDLE_TIMEOUT_SECONDS = 300.0


@dataclass
class SmtpListener:
    server: asyncio.Server
    handler: SmtpInboundHandler
    sessions: weakref.WeakSet[MailroomSMTP]  # every connection the server made (serve_smtp)

    async def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        """Stop listening, answer held senders and new transactions 451, let the hand-offs
        in flight finish (cancelled at the timeout), then close every connection, aborting
        those still open when the time is up. `Server.wait_closed` alone does not do this:
        on Python 3.11 it returns at once, leaving sessions running past the stores' close;
        from 3.12 it waits for every client to hang up (idle ones: 5 min; one that does not
        read our replies: for ever). The listeners sharing this handler (smtp and
        submission) stop with this one: all stop listening first, the handler stops once."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        group = [self, *(other for other in _listeners.get(self.handler, ()) if other is not self)]
        for listener in group:
            listener.server.close()
        await self.handler.stop(timeout)
        sessions = [session for listener in group for session in listener.sessions]
        for session in sessions:
            session.close_now()  # a client that does not read is aborted within a second
        still_open = [session.gone.wait() for session in sessions if not session.gone.is_set()]
        if still_open:
            _, waiting = await asyncio.wait(
                [asyncio.ensure_future(gone) for gone in still_open],
                timeout=max(0.0, deadline - loop.time()),
            )
            for gone in waiting:
                gone.cancel()
            for session in sessions:
                session.abort()  # the time is up: nothing left open past stop()
            await asyncio.sleep(0)  # their connection_lost runs
        for listener in group:
            try:
                await asyncio.wait_for(
                    listener.server.wait_closed(), max(0.0, deadline - loop.time())
                )
            except TimeoutError:
                log.warning("smtp_listener_stop_timed_out", open=len(sessions))


# Listeners by the handler they share (smtp and submission), for SmtpListener.stop.
_listeners: weakref.WeakKeyDictionary[SmtpInboundHandler, list[SmtpListener]] = (
    weakref.WeakKeyDictionary()
)


async def serve_smtp(
    handler: SmtpInboundHandler,
    *,
    host: str,
    port: int,
    max_message_bytes: int,
    hostname: str = "mailroom",
    rules: SessionRules | None = None,
    tls_context: ssl.SSLContext | None = None,
    submission: bool = False,
    admission: Admission | None = None,
    timeout: float = IDLE_TIMEOUT_SECONDS,
    sock: socket.socket | None = None,
) -> SmtpListener:
    """Start the SMTP listener on the running loop (not aiosmtpd's threaded Controller, whose
    private loop could not await our Temporal client). With `tls_context`, STARTTLS is
    offered; a `submission` listener requires it, then AUTH, before MAIL (RFC 6409). With
    `sock`, a listening socket bound by another process (orchestrator/process_group.py),
    it serves on that instead of binding `host`:`port`."""
    sessions: weakref.WeakSet[MailroomSMTP] = weakref.WeakSet()

    def protocol() -> MailroomSMTP:
        session = MailroomSMTP(
            handler,
            data_size_limit=max_message_bytes,
            enable_SMTPUTF8=True,
            decode_data=False,
            hostname=hostname,
            ident="mailroom ESMTP",
            rules=rules,
            tls_context=tls_context,
            require_starttls=submission,
            auth_required=submission,
            auth_require_tls=True,
            timeout=timeout,  # for each command; aiosmtpd closes the connection after it
        )
        session.admission = admission  # shared by this listener's connections
        sessions.add(session)
        return session

    loop = asyncio.get_running_loop()
    if sock is not None:
        server = await loop.create_server(protocol, sock=sock)
    else:
        server = await loop.create_server(protocol, host=host, port=port)
    listener = SmtpListener(server, handler, sessions)
    _listeners.setdefault(handler, []).append(listener)
    return listener
