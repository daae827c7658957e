"""SMTP inbound adapter: aiosmtpd's SMTP protocol, served on our own event loop.

250 is answered only after Temporal acknowledged the hand-off; anything else is a 4xx so
the sending server keeps the mail and retries (RFC 5321 §4.2.5), or a 5xx for what will
never work. Nothing accepted is ever lost.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import re
import sqlite3
import time
import weakref
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any, Concatenate

import structlog
from aiosmtpd.smtp import SMTP, Envelope, Session
from pydantic import ValidationError

from adapters.inbound.mime import peek_message_id
from adapters.inbound.smtp_admission import (
    THREAD_RATE,
    ClientRate,
    RecipientLimits,
    client_key,
    is_loopback,
)
from adapters.inbound.smtp_outcomes import classify
from adapters.spans import traced_smtp_data
from use_cases.claim_check import PayloadTooLarge
from use_cases.mailboxes import Mailboxes
from use_cases.models import Ingested
from use_cases.permanent_failures import permanent_reason
from use_cases.ports import Backpressure, HandoffFailed, IntakeMetrics, NoMetrics, StorageSpace

log = structlog.get_logger()

Ingest = Callable[[bytes, Sequence[str], str | None], Awaitable[Ingested]]

UNKNOWN_RECIPIENT = "550 5.1.1 Recipient address rejected: not a mailbox here"
HANDOFF_FAILED = "451 4.3.0 Temporary failure handing the message to its thread, try again later"
OVERLOADED = "451 4.3.2 Too many messages in flight, try again later"
# Finished bodies waiting for their hand-off are held whole in memory; past this many bytes
# of them, DATA is answered 451 (before the 354 when SIZE= says the mail would not fit).
DEFAULT_MAX_PENDING_BYTES = 256 * 1024 * 1024
PENDING_FULL = "451 4.3.2 Too much mail waiting to be handed off, try again later"
BACKLOGGED = "451 4.3.2 Mail accepted earlier is still waiting to be processed, try again later"
ACCEPTED = "250 2.0.0 OK: queued as {message_id}"
# The Message-ID in ACCEPTED comes from the mail: a reply line is printable US-ASCII and at
# most 512 octets (RFC 5321 §4.1.1, §4.5.3.1.5), so anything else is replaced and it is cut.
REPLY_ID_CHARS = 200
NOT_IN_REPLY = re.compile(r"[^\x21-\x7e]")


def reply_safe(message_id: str) -> str:
    """The Message-ID as it may appear in our reply: no control character, space or
    non-ASCII (each shown as `?`), at most REPLY_ID_CHARS long."""
    shown = NOT_IN_REPLY.sub("?", message_id)
    return shown if len(shown) <= REPLY_ID_CHARS else shown[: REPLY_ID_CHARS - 3] + "..."


# RFC 5321 §4.5.3.1.8 (at least 100 must be accepted) and §4.5.3.1.10: beyond our bounds
# (RecipientLimits), 452 defers the rest; the client sends them in another transaction.
TOO_MANY_RECIPIENTS = "452 4.5.3 Too many recipients"
TOO_MANY_MAILBOXES = "452 4.5.3 Too many of our mailboxes in one message, send the rest apart"
TOO_MANY_FOR_CONNECTION = "452 4.5.3 Too many recipients in this connection"
# Permanent: the same bytes would fail again, so the sender must not retry (RFC 3463 §3.7).
TOO_COMPLEX = "552 5.3.4 Message too complex to hand to a thread: {reason}"
UNPROCESSABLE = "554 5.6.0 Message content could not be processed"
SHUTTING_DOWN = "451 4.3.2 Service shutting down, try again later"
# Postfix's answer when the queue file system is short of space (smtpd_check_size): at MAIL
# (with SIZE=), before DATA's 354, after the transfer if the mail would not fit, and when a
# write failed for want of space. 452 to MAIL is RFC 1870 §6's "insufficient storage".
STORAGE_FULL = "452 4.3.1 Insufficient system storage"
# Postfix's answer to a MAIL FROM it cannot parse. aiosmtpd passes on a control character
# (ESC, NUL, DEL, C1 such as U+0085, U+2028, …) in a quoted local part; it would reach the
# thread, the logs and the relay.
BAD_SENDER = "553 5.1.7 Bad sender address syntax"
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
POSTGRES_DISK_FULL = "53100"  # SQLSTATE disk_full
# While accepted mail waits too long to be applied, a new sender is first held: the reply
# to its MAIL comes when the backlog clears (in the spirit of Postfix's in_flow_delay, which
# slows senders to the delivery rate). A sending MTA retries a 451 only after minutes
# (Postfix: 300 s at least), and every 451 and retry costs CPU the stack needs to catch up,
# so under a burst holding turns minutes of delay into seconds and keeps senders at the
# pace mail is applied instead of flipping the bound on and off. Only past the hold is the
# answer 451. RFC 5321 §4.5.3.2.2 has a client wait 5 minutes for the reply to MAIL.
# Held at MAIL only: a body already received is not kept waiting in memory (DATA answers
# 451 at once if the backlog grew during the transaction).
DEFAULT_BACKLOG_HOLD_SECONDS = 20.0
# Each held sender keeps a connection open; past this many, answer 451 at once. One client
# host gets at most a quarter of the places (Postfix limits connections per client too), so
# one sender opening hundreds of connections cannot take them all. Loopback is exempt, as
# Postfix exempts $mynetworks: behind a local MTA or proxy every sender is 127.0.0.1.
MAX_HELD_SENDERS = 256
MAX_HELD_PER_HOST_SHARE = 4
# At stop's timeout the hand-offs still running are cancelled (their senders get 451 and
# retry; a signal that landed meanwhile is deduplicated by Message-ID), then awaited this
# long at most: a hand-off that swallowed its cancellation must not hang the shutdown.
CANCEL_GRACE_SECONDS = 1.0
# The metrics' `reason` label of each of our replies (adapters/inbound/smtp_outcomes.py).
REASONS = {
    ACCEPTED: "queued",
    UNKNOWN_RECIPIENT: "unknown_recipient",
    HANDOFF_FAILED: "handoff_failed",
    OVERLOADED: "in_flight",
    PENDING_FULL: "pending_bytes",
    BACKLOGGED: "backlog",
    TOO_MANY_RECIPIENTS: "recipients_per_mail",
    TOO_MANY_MAILBOXES: "mailboxes_per_mail",
    TOO_MANY_FOR_CONNECTION: "recipients_per_connection",
    THREAD_RATE: "thread_rate",
    TOO_COMPLEX: "too_complex",
    UNPROCESSABLE: "unprocessable",
    SHUTTING_DOWN: "shutting_down",
    STORAGE_FULL: "storage",
    BAD_SENDER: "bad_sender",
}
Hook = Callable[Concatenate["SmtpInboundHandler", ...], Coroutine[Any, Any, str]]


def counted(stage: str, *, accepted_too: bool) -> Callable[[Hook], Hook]:
    """Count the hook's answers in the handler's metrics: refusals and deferrals, and
    acceptances too where `accepted_too` (DATA's 250 is a mail taken, MAIL's is not)."""

    def wrap(hook: Hook) -> Hook:
        @functools.wraps(hook)
        async def answer(handler: SmtpInboundHandler, *args: Any) -> str:
            reply = await hook(handler, *args)
            if accepted_too or not reply.startswith("2"):
                said = classify(reply, REASONS)
                handler.metrics.mail_answered(stage, said.outcome, said.code, said.reason)
            return reply

        return answer

    return wrap


class SmtpInboundHandler:
    """aiosmtpd handler: RCPT checks against our mailboxes, DATA hands the mail off."""

    def __init__(
        self,
        mailboxes: Mailboxes,
        ingest: Ingest,
        *,
        max_in_flight: int = 256,
        backlog: Backpressure | None = None,
        backlog_hold_seconds: float = DEFAULT_BACKLOG_HOLD_SECONDS,
        max_held: int = MAX_HELD_SENDERS,
        recipient_limits: RecipientLimits | None = None,
        thread_rate: ClientRate | None = None,
        storage: StorageSpace | None = None,
        max_pending_bytes: int = DEFAULT_MAX_PENDING_BYTES,
        metrics: IntakeMetrics | None = None,
    ) -> None:
        self.metrics: IntakeMetrics = metrics or NoMetrics()
        self.storage = storage
        # Bytes of finished bodies held for hand-offs under way (see PENDING_FULL), and the
        # hand-offs themselves: run as tasks a lost connection cannot cancel part-way (a
        # mail half written to the stores), which stop() waits for.
        self.max_pending_bytes = max_pending_bytes
        self.pending_bytes = 0
        self._handoffs: set[asyncio.Task[str]] = set()
        # Each session's hand-off under way: the session holds its DATA place until it ends.
        self._handoff_of: weakref.WeakKeyDictionary[Session, asyncio.Task[str]] = (
            weakref.WeakKeyDictionary()
        )
        self._stopped: asyncio.Future[None] | None = None
        self.recipient_limits = recipient_limits or RecipientLimits()
        self.thread_rate = thread_rate
        # Mailboxes each transaction feeds, recipients each connection was given: they live
        # as long as aiosmtpd's envelope (new at RSET and after DATA) and connection (not its
        # Session: aiosmtpd makes a new one at STARTTLS, which would restart the count).
        self._mailboxes_fed: weakref.WeakKeyDictionary[Envelope, set[str]] = (
            weakref.WeakKeyDictionary()
        )
        self._recipients: weakref.WeakKeyDictionary[SMTP, int] = weakref.WeakKeyDictionary()
        self.backlog = backlog
        self.backlog_hold_seconds = backlog_hold_seconds
        self.max_held = max_held
        self.held = 0
        self.held_by_host: Counter[str] = Counter()
        self._stopping = asyncio.Event()
        # Replies being worked out (MAIL and DATA await): stop() waits for them, and a reply
        # is written to its connection in the same loop step its hook returns, so closing
        # the connections after that loses no answer.
        self._answering = 0
        self._quiet = asyncio.Event()
        self._quiet.set()
        self.mailboxes = mailboxes
        self.ingest = ingest
        self.max_in_flight = max_in_flight
        self.in_flight = 0

    @counted("mail", accepted_too=False)
    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if not all(c.isprintable() or c == " " for c in address):
            log.info("sender_rejected_control_character", peer=str(session.peer))
            return BAD_SENDER
        # Deferring here, before any recipient or body is sent, spares the sender a transfer
        # that would be answered 451 anyway (RFC 5321 §3.3 allows 451 to MAIL).
        with self._answer():
            deferral = await self._deferral("MAIL", session, hold=True)
        if deferral is not None:
            return deferral
        refusal = self.storage_refusal("MAIL", declared_size(options), session)
        if refusal is not None:
            return refusal
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 OK"

    @counted("rcpt", accepted_too=False)
    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        limits = self.recipient_limits
        if len(envelope.rcpt_tos) >= limits.per_mail:
            return TOO_MANY_RECIPIENTS
        if self._recipients.get(server, 0) >= limits.per_connection:
            return TOO_MANY_FOR_CONNECTION
        mailbox = self.mailboxes.resolve(address)
        if mailbox is None:
            log.info("recipient_rejected", recipient=address, peer=str(session.peer))
            return UNKNOWN_RECIPIENT
        fed = self._mailboxes_fed.setdefault(envelope, set())
        if mailbox not in fed:
            # A new mailbox is a hand-off more, and may open a thread: bounded per mail and,
            # for each client, per minute (whether it opens one is known only after DATA).
            if len(fed) >= limits.mailboxes_per_mail:
                return TOO_MANY_MAILBOXES
            rate = self.thread_rate
            if rate is not None and not rate.take(_host(session)):
                log.warning("recipient_deferred_thread_rate", peer=str(session.peer))
                return THREAD_RATE.format(host=rate.limits.client(_host(session)))
            fed.add(mailbox)
        if mailbox == self.mailboxes.postmaster:
            log.info("postmaster_recipient", recipient=address, peer=str(session.peer))
        self._recipients[server] = self._recipients.get(server, 0) + 1
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    @counted("data", accepted_too=True)
    @traced_smtp_data
    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.metrics.mail_received()
        with self._answer():
            return await self._data(session, envelope)

    async def _data(self, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        if not isinstance(raw, bytes):
            raw = str(raw).encode("utf-8", "surrogateescape")
        if self.in_flight >= self.max_in_flight:
            log.warning("email_deferred_overloaded", in_flight=self.in_flight)
            return OVERLOADED
        # The backlog grew during this transaction, or the service is stopping.
        deferral = await self._deferral("DATA", session, hold=False)
        if deferral is not None:
            return deferral
        refusal = self.storage_refusal("DATA", len(raw), session)  # space went meanwhile
        if refusal is None:
            refusal = self.pending_refusal("DATA", len(raw), session)
        if refusal is not None:
            return refusal
        mailboxes = self.mailboxes.resolve_all(envelope.rcpt_tos)
        self.in_flight += 1  # before the task starts: the check above cannot be overshot
        with structlog.contextvars.bound_contextvars(message_id=peek_message_id(raw)):
            # A task of its own, shielded: the client hanging up (or its session deadline)
            # cancels this coroutine, never the hand-off, which may be past the gateway and
            # not yet past the thread index (as Postfix finishes queueing what it took).
            handoff = asyncio.ensure_future(
                self._timed_hand_off(raw, mailboxes, envelope.mail_from, str(session.peer))
            )
        self._handoffs.add(handoff)
        self._handoff_of[session] = handoff
        self.pending_bytes += len(raw)
        handoff.add_done_callback(functools.partial(self._handed_off, size=len(raw)))
        try:
            return await asyncio.shield(handoff)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if handoff.cancelled() and (task is None or not task.cancelling()):
                return SHUTTING_DOWN  # cut at stop's timeout: not 250, so the sender retries
            raise

    def handoff_of(self, session: Session | None) -> asyncio.Task[str] | None:
        return self._handoff_of.get(session) if session is not None else None

    def _handed_off(self, handoff: asyncio.Task[str], *, size: int) -> None:
        self._handoffs.discard(handoff)
        self.pending_bytes -= size
        self.in_flight -= 1
        # _hand_off answers every Exception; read what else ended it, so nothing is unseen.
        if not handoff.cancelled() and handoff.exception() is not None:
            log.warning("email_handoff_task_failed", error=repr(handoff.exception()))

    def pending_refusal(self, stage: str, size: int, session: Session | None) -> str | None:
        """451 while the bodies awaiting hand-off hold the memory budget: `size` more bytes
        would not fit. One mail alone always fits, so a budget under the message size limit
        still lets mail through, one at a time. Also called by the session before DATA's
        354 with the size declared at MAIL (0: not declared, refused only once spent)."""
        if not self.pending_bytes or self.pending_bytes + max(size, 1) <= self.max_pending_bytes:
            return None
        peer = str(session.peer) if session is not None else None
        log.warning(
            "email_deferred_pending_bytes",
            at=stage,
            size=size,
            pending_bytes=self.pending_bytes,
            peer=peer,
        )
        return PENDING_FULL

    async def _deferral(self, stage: str, session: Session, *, hold: bool) -> str | None:
        """The 451 to answer, if any: while stopping, or while the backlog is behind (after
        holding the sender, see DEFAULT_BACKLOG_HOLD_SECONDS)."""
        if not self._stopping.is_set() and (self.backlog is None or not self.backlog.overloaded):
            return None
        if hold and not self._stopping.is_set() and self._may_hold(_host(session)):
            await self._hold(_host(session))
        if self._stopping.is_set():
            return SHUTTING_DOWN
        if self.backlog is None or not self.backlog.overloaded:
            return None
        log.warning("email_deferred_backlog", at=stage, peer=str(session.peer), held=self.held)
        return BACKLOGGED

    def _may_hold(self, host: str) -> bool:
        if self.held >= self.max_held:
            return False
        per_host = max(1, self.max_held // MAX_HELD_PER_HOST_SHARE)
        return _is_loopback(host) or self.held_by_host[self._client(host)] < per_host

    def _client(self, host: str) -> str:
        """`host` as admission counts it (an IPv6 client by its prefix)."""
        rate = self.thread_rate
        return rate.limits.client(host) if rate is not None else client_key(host)

    async def _hold(self, host: str) -> None:
        """Until the backlog clears, the service stops, or the hold is over."""
        assert self.backlog is not None
        if self.backlog_hold_seconds <= 0:
            return
        host = self._client(host)  # an IPv6 client by its prefix, as admission counts it
        self.held += 1
        self.held_by_host[host] += 1
        self.metrics.senders_held(self.held)
        waits = [
            asyncio.ensure_future(self.backlog.wait_until_clear()),
            asyncio.ensure_future(self._stopping.wait()),
        ]
        try:
            await asyncio.wait(
                waits, timeout=self.backlog_hold_seconds, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            self.held -= 1
            self.metrics.senders_held(self.held)
            self.held_by_host[host] -= 1
            if not self.held_by_host[host]:
                del self.held_by_host[host]
            for wait in waits:
                wait.cancel()
            await asyncio.gather(*waits, return_exceptions=True)

    async def stop(self, timeout: float) -> None:
        """Take no more mail (held senders and new transactions get 451) and wait, at most
        `timeout` seconds, for the replies being worked out: a hand-off in flight finishes,
        its sender gets its answer, and nothing it still writes (the thread index) meets a
        closed store. At the timeout the hand-offs left are cancelled and awaited: nothing
        of theirs runs after this returns. Listeners sharing this handler (smtp and
        submission) stop it once: a second call waits for the first."""
        if self._stopped is None:
            self._stopped = asyncio.ensure_future(self._stop(timeout))
        await asyncio.shield(self._stopped)

    async def _stop(self, timeout: float) -> None:
        self._stopping.set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            await asyncio.wait_for(self._quiet.wait(), timeout)
            # Hand-offs whose client left: nobody awaits their answer, but they still write.
            if self._handoffs:
                await asyncio.wait(set(self._handoffs), timeout=max(0.0, deadline - loop.time()))
        except TimeoutError:
            pass
        if not self._handoffs and self._quiet.is_set():
            return
        log.warning("smtp_stopped_with_handoffs_in_flight", in_flight=self.in_flight)
        if self._handoffs:
            cancelled = set(self._handoffs)
            for handoff in cancelled:
                handoff.cancel()
            await asyncio.wait(cancelled, timeout=CANCEL_GRACE_SECONDS)
        # Their sessions answer 451 (SHUTTING_DOWN) in the loop steps after.
        with suppress(TimeoutError):
            await asyncio.wait_for(self._quiet.wait(), CANCEL_GRACE_SECONDS)

    @contextmanager
    def _answer(self) -> Iterator[None]:
        self._answering += 1
        self._quiet.clear()
        try:
            yield
        finally:
            self._answering -= 1
            if self._answering == 0:
                self._quiet.set()

    async def _timed_hand_off(
        self, raw: bytes, mailboxes: list[str], mail_from: str | None, peer: str
    ) -> str:
        started = time.perf_counter()
        reply = await self._hand_off(raw, mailboxes, mail_from, peer)
        outcome = classify(reply, REASONS).outcome
        self.metrics.handoff_took(outcome, time.perf_counter() - started)
        return reply

    async def _hand_off(
        self, raw: bytes, mailboxes: list[str], mail_from: str | None, peer: str
    ) -> str:
        try:
            ingested = await self.ingest(raw, mailboxes, mail_from)
        except HandoffFailed as exc:
            log.warning("email_deferred", reason=str(exc), peer=peer, thread_id=None)
            return HANDOFF_FAILED
        except PayloadTooLarge as exc:
            log.warning("email_rejected_too_complex", reason=str(exc), peer=peer, size=len(raw))
            return TOO_COMPLEX.format(reason=str(exc)[:200])
        except ValidationError as exc:
            log.warning("email_rejected_unprocessable", error=str(exc)[:500], peer=peer)
            return UNPROCESSABLE
        except Exception as exc:
            if disk_full(exc):
                log.warning("email_deferred_disk_full", error=str(exc), peer=peer, size=len(raw))
                return STORAGE_FULL  # the claim-check removed what it wrote
            # Anything else is deferred, as Postfix defers on an internal error: a bug, once
            # fixed, lets the sender's retry through, where a 5xx would bounce good mail.
            # (IMAP and replay quarantine or skip such mail after a few tries instead: they
            # keep it, so nothing is lost either way; see use_cases/permanent_failures.py.)
            log.exception(
                "email_deferred_unexpected_error",
                peer=peer,
                thread_id=None,
                content_error=permanent_reason(exc),
            )
            return HANDOFF_FAILED
        for thread_id in ingested.thread_ids:
            log.info("email_accepted", thread_id=thread_id, size=len(raw), peer=peer)
        return ACCEPTED.format(message_id=reply_safe(ingested.message_id))

    def storage_refusal(self, stage: str, size: int, session: Session | None) -> str | None:
        """452 4.3.1 while the data directory is short of space for a mail of `size` bytes
        (0: not known), see adapters/outbound/disk_space.py. Also called by the session
        before DATA's 354, with the size declared at MAIL."""
        if self.storage is None or self.storage.room_for(size):
            return None
        peer = str(session.peer) if session is not None else None
        log.warning("email_deferred_storage", at=stage, size=size, peer=peer)
        return STORAGE_FULL


def disk_full(exc: BaseException) -> bool:
    """A write failed for want of space: a file's (ENOSPC, EDQUOT), SQLite's own
    (SQLITE_FULL, "database or disk is full": the blob references, the thread index) or
    PostgreSQL's (SQLSTATE 53100 disk_full: the blobs, references or thread index there)."""
    if isinstance(exc, OSError):
        return exc.errno in DISK_FULL_ERRNOS
    if getattr(exc, "sqlstate", None) == POSTGRES_DISK_FULL:  # psycopg.errors.DiskFull
        return True
    return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL


def declared_size(options: Sequence[str]) -> int:
    """The SIZE= of MAIL FROM (RFC 1870), 0 if absent (aiosmtpd already refused a
    malformed one, 501, and one over the limit, 552)."""
    for option in options:
        name, _, value = option.partition("=")
        if name.upper() == "SIZE" and value.isascii() and value.isdigit():
            return int(value)
    return 0


def _host(session: Session) -> str:
    peer = session.peer
    return str(peer[0]) if isinstance(peer, tuple) and peer else str(peer)


def _is_loopback(host: str) -> bool:
    return is_loopback(host)  # `::ffff:127.0.0.1` too: a dual-stack listener's IPv4 client
