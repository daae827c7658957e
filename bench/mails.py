"""Generated mail: deterministic, realistic-sized messages grouped into conversations.

Mail `i` of a run belongs to thread `i % threads`; the first mail of a thread is its root
and every later one carries the root in References and In-Reply-To, so mailroom threads
them by the References rule (RFC 5322 §3.6.4).
"""

from __future__ import annotations

import mailbox
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

MAILBOX = "support@mailroom.local"
DOMAINS = "mailroom.local,localhost"
# ~1.5 KB of body: a typical short human mail (headers add ~0.5 KB).
BODY_LINE = "Hello, this is a benchmark message about order {order}; please have a look.\n"
BODY_LINES = 20


def message_id(run: str, index: int, threads: int) -> str:
    thread, seq = index % threads, index // threads
    if seq == 0:
        return f"<bench-{run}-t{thread}-root@example.com>"
    return f"<bench-{run}-t{thread}-m{seq}@example.com>"


def sender(run: str, index: int, threads: int) -> str:
    return f"customer{index % threads}-{run}@example.com"


def thread_mail(run: str, index: int, threads: int) -> tuple[str, bytes]:
    """(Message-ID, raw RFC 5322 bytes) of mail `index`."""
    thread, seq = index % threads, index // threads
    mid = message_id(run, index, threads)
    headers = [
        f"From: Customer {thread} <{sender(run, index, threads)}>",
        f"To: Support <{MAILBOX}>",
        f"Subject: {'Re: ' if seq else ''}Order {run}-{thread}",
        f"Date: {format_datetime(datetime(2025, 1, 1, tzinfo=UTC))}",
        f"Message-ID: {mid}",
    ]
    if seq:
        root = message_id(run, thread, threads)
        headers += [f"In-Reply-To: {root}", f"References: {root}"]
    headers += ["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8"]
    body = BODY_LINE.format(order=f"{run}-{thread}-{seq}") * BODY_LINES
    raw = "\r\n".join(headers) + "\r\n\r\n" + body.replace("\n", "\r\n")
    return mid, raw.encode("utf-8")


def write_mbox(path: Path, *, run: str, mails: int, threads: int) -> None:
    box = mailbox.mbox(path, create=True)
    try:
        box.lock()
        for index in range(mails):
            _, raw = thread_mail(run, index, threads)
            box.add(mailbox.mboxMessage(raw))
        box.flush()
    finally:
        box.unlock()
        box.close()
