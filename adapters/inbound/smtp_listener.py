"""The SMTP listener: aiosmtpd's protocol on our event loop, and its orderly stop."""

from __future__ import annotations

import asyncio
import ssl
import weakref
from dataclasses import dataclass
from typing import Any

from aiosmtpd.smtp import SMTP

from adapters.inbound.smtp import SmtpInboundHandler
from adapters.inbound.smtp_admission import Admission
from adapters.inbound.smtp_session import MailroomSMTP, SessionRules

# A hand-off in flight is one signal-with-start (HANDOFF_TIMEOUT in the gateway, 10 s) and a
# few local writes; one still running after this is stuck, and its sender will retry.
STOP_TIMEOUT_SECONDS = 15.0
# Postfix's smtpd_timeout: how long a client may take to send its next command.
IDLE_TIMEOUT_SECONDS = 300.0


@dataclass
class SmtpListener:
    server: asyncio.Server
    handler: SmtpInboundHandler
    sessions: weakref.WeakSet[SMTP]  # every connection the server made (serve_smtp)

    async def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        """Stop listening, answer held senders and new transactions 451, let the hand-offs
        in flight finish, then close every connection. `Server.wait_closed` alone does not
        do this: on Python 3.11 it returns at once, leaving sessions running past the
        stores' close; from 3.12 it waits for every client to hang up (idle ones: 5 min)."""
        self.server.close()
        await self.handler.stop(timeout)
        for session in list(self.sessions):
            if session.transport is not None:
                session.transport.close()
        await self.server.wait_closed()


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
) -> SmtpListener:
    """Start the SMTP listener on the running loop (not aiosmtpd's threaded Controller, whose
    private loop could not await our Temporal client). With `tls_context`, STARTTLS is
    offered; a `submission` listener requires it, then AUTH, before MAIL (RFC 6409)."""
    sessions: weakref.WeakSet[SMTP] = weakref.WeakSet()

    def protocol() -> Any:
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
    server = await loop.create_server(protocol, host=host, port=port)
    return SmtpListener(server, handler, sessions)
