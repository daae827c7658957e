"""Sending MTAs in client threads: a paced stream of mails over real SMTP, each retried on a
4xx or a dropped connection (RFC 5321 §4.5.4.1) until the adapter answers 250."""

from __future__ import annotations

import contextlib
import heapq
import itertools
import smtplib
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime

from use_cases.threading import workflow_id_for

# A neutral mailbox and subject: the rule-based agent routes them to flow "other", so the
# only automatic mail a thread sends is its acknowledgement (adapters/agents/rules.py).
MAILBOX = "info@mailroom.local"
SUBJECT = "Lunch on Friday"
FIRST_RETRY_SECONDS = 0.25
MAX_RETRY_SECONDS = 2.0
SMTP_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class Mail:
    message_id: str
    thread_id: str  # the workflow id the mail must land in
    sender: str
    raw: bytes
    to: str = MAILBOX


def conversation_mails(
    tag: str, *, threads: int, per_thread: int, interleaved: int = 10
) -> list[Mail]:
    """`threads` conversations of `per_thread` mails (a first mail, then replies carrying
    References), `interleaved` conversations at a time as a busy mailbox sees them."""
    mails: dict[tuple[int, int], Mail] = {}
    for t in range(threads):
        root = f"<lunch-{tag}-{t}-0@example.com>"
        sender = f"person{t}@example.com"
        for i in range(per_thread):
            mails[t, i] = _mail(tag, t, i, root, sender)
    order = sorted(mails, key=lambda ti: (ti[0] // interleaved, ti[1], ti[0]))
    return [mails[ti] for ti in order]


def _mail(tag: str, t: int, i: int, root: str, sender: str) -> Mail:
    message_id = f"<lunch-{tag}-{t}-{i}@example.com>"
    previous = f"<lunch-{tag}-{t}-{i - 1}@example.com>" if i else None
    raw = raw_mail(
        sender=f"Person {t} <{sender}>",
        to=MAILBOX,
        subject=f"{'Re: ' if i else ''}{SUBJECT}",
        message_id=message_id,
        body=f"Shall we meet at noon? Note {i} of conversation {t}.\r\n",
        in_reply_to=previous,
        references=tuple(dict.fromkeys([root, previous])) if previous else (),
    )
    return Mail(message_id, workflow_id_for(MAILBOX, root), sender, raw)


def raw_mail(
    *,
    sender: str,
    to: str,
    subject: str,
    message_id: str,
    body: str,
    in_reply_to: str | None = None,
    references: tuple[str, ...] = (),
) -> bytes:
    """A plain RFC 5322 message, dated now; a reply when `in_reply_to` is given."""
    headers = [
        f"From: {sender}",
        f"To: {to}",
        f"Subject: {subject}",
        f"Date: {format_datetime(datetime.now(UTC))}",
        f"Message-ID: {message_id}",
    ]
    if in_reply_to:
        headers += [f"In-Reply-To: {in_reply_to}", f"References: {' '.join(references)}"]
    return ("\r\n".join(headers) + "\r\n\r\n" + body).encode()


@dataclass
class Outcomes:
    accepted: dict[str, Mail] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)  # 5xx: must never happen here
    attempts: int = 0
    replies: Counter[int] = field(default_factory=Counter)  # 4xx codes seen
    dropped: int = 0  # connection refused, reset or closed mid-transaction
    first_accepted_at: float = 0.0
    last_accepted_at: float = 0.0


class SendingMta:
    """Client threads sharing one schedule: mail n is due at start + n / rate; a deferred
    mail is due again after an exponential back-off."""

    def __init__(
        self,
        port: int,
        mails: list[Mail],
        *,
        rate: float,
        clients: int = 4,
        backup_ports: tuple[int, ...] = (),
    ) -> None:
        """`backup_ports`: tried in order when `port` refuses a connection, as an MTA tries a
        domain's MX hosts by preference."""
        self.port = port
        self.ports = (port, *backup_ports)
        self.mails = mails
        self.outcomes = Outcomes()
        self._rate = rate
        self._clients = clients
        self._due: list[tuple[float, int, int, Mail]] = []  # (due, seq, tries, mail)
        self._seq = itertools.count()  # ties on `due` never compare mails
        self._cond = threading.Condition()
        self._stopping = False
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        self._schedule(self.mails, self._rate)
        for n in range(self._clients):
            thread = threading.Thread(target=self._client, name=f"mta-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def extend(self, mails: list[Mail], *, rate: float) -> None:
        """More mail, paced at `rate` from now on."""
        with self._cond:
            self.mails = [*self.mails, *mails]
        self._schedule(mails, rate)

    def _schedule(self, mails: list[Mail], rate: float) -> None:
        now = time.monotonic()
        with self._cond:
            for n, mail in enumerate(mails):
                heapq.heappush(self._due, (now + n / rate, next(self._seq), 0, mail))
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout=SMTP_TIMEOUT_SECONDS + 5)

    @property
    def accepted(self) -> int:
        with self._cond:
            return len(self.outcomes.accepted)

    @property
    def done(self) -> bool:
        with self._cond:
            settled = len(self.outcomes.accepted) + len(self.outcomes.rejected)
            return settled == len(self.mails)

    def _next(self) -> tuple[int, Mail] | None:
        with self._cond:
            while not self._stopping:
                now = time.monotonic()
                if self._due and self._due[0][0] <= now:
                    _, _, tries, mail = heapq.heappop(self._due)
                    self.outcomes.attempts += 1
                    return tries, mail
                pause = self._due[0][0] - now if self._due else 0.5
                self._cond.wait(min(pause, 0.5))  # pacing: the next mail is not due yet
            return None

    def _retry_later(self, tries: int, mail: Mail) -> None:
        delay = min(FIRST_RETRY_SECONDS * 2**tries, MAX_RETRY_SECONDS)
        with self._cond:
            heapq.heappush(self._due, (time.monotonic() + delay, next(self._seq), tries + 1, mail))
            self._cond.notify()

    def _client(self) -> None:
        connection: smtplib.SMTP | None = None
        while (item := self._next()) is not None:
            tries, mail = item
            try:
                connection = connection or self._connect()
                connection.sendmail(mail.sender, [mail.to], mail.raw)
            except smtplib.SMTPResponseException as exc:
                self._answered(exc.smtp_code, exc.smtp_error, tries, mail)
            except smtplib.SMTPRecipientsRefused as exc:
                code, text = exc.recipients[mail.to]
                self._answered(code, text, tries, mail)
            except (OSError, smtplib.SMTPException):  # refused, reset, closed, timed out
                _discard(connection)
                connection = None
                with self._cond:
                    self.outcomes.dropped += 1
                self._retry_later(tries, mail)
            else:
                with self._cond:
                    now = time.monotonic()
                    self.outcomes.accepted[mail.message_id] = mail
                    self.outcomes.first_accepted_at = self.outcomes.first_accepted_at or now
                    self.outcomes.last_accepted_at = now
        _discard(connection)

    def _connect(self) -> smtplib.SMTP:
        """The first of the ports that takes the connection (the last one's error if none)."""
        for port in self.ports[:-1]:
            with contextlib.suppress(OSError):
                return smtplib.SMTP("127.0.0.1", port, timeout=SMTP_TIMEOUT_SECONDS)
        return smtplib.SMTP("127.0.0.1", self.ports[-1], timeout=SMTP_TIMEOUT_SECONDS)

    def _answered(self, code: int, text: bytes | str, tries: int, mail: Mail) -> None:
        with self._cond:
            if 400 <= code < 500:
                self.outcomes.replies[code] += 1
            else:
                self.outcomes.rejected[mail.message_id] = f"{code} {text!r}"
                return
        self._retry_later(tries, mail)


def _discard(connection: smtplib.SMTP | None) -> None:
    if connection is not None:
        with contextlib.suppress(OSError):
            connection.close()
