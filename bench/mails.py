"""Generated mail: deterministic, realistic-sized messages grouped into conversations.

`mails` mails are spread over `threads` conversations. The first mail of a conversation is
its root; every later one carries the root in References and In-Reply-To, so mailroom
threads them by the References rule (RFC 5322 §3.6.4).

Order "spread" (the default) is a steady state: conversations start evenly over the run and
each lives through a quarter of it, so new threads (workflow starts, the expensive kind)
are a constant share of the traffic. Order "roots-first" sends every root first, then the
replies round-robin: a burst of new conversations, then replies only.
"""

from __future__ import annotations

import functools
import mailbox
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

from use_cases.threading import workflow_id_for

MAILBOX = "support@mailroom.local"  # the default recipient; any <local>@mailroom.local works
DOMAINS = "mailroom.local,localhost"
# ~1.5 KB of body: a typical short human mail (headers add ~0.5 KB).
BODY_LINE = "Hello, this is a benchmark message about order {order}; please have a look.\n"
BODY_LINES = 20


ORDERS = ("spread", "roots-first")
CONVERSATION_SHARE_OF_RUN = 0.25


@dataclass(frozen=True)
class Layout:
    mails: int
    threads: int
    order: str = "spread"
    mailbox: str = MAILBOX

    def workflow_ids(self, run: str, prefix: str = "") -> list[str]:
        """The thread workflow ids of a run, as mailroom derives them from the roots."""
        return [
            prefix + workflow_id_for(self.mailbox, root_id(run, t))
            for t in range(self.thread_count())
        ]

    def expected(
        self, run: str, accepted: Collection[str] | None = None, prefix: str = ""
    ) -> dict[str, set[str]]:
        """{thread workflow id: its Message-IDs} of a run (only `accepted` ones, if given)."""
        ids = self.workflow_ids(run, prefix)
        expected: dict[str, set[str]] = {wid: set() for wid in ids}
        for index in range(self.mails):
            thread, seq = self.slot(index)
            mid = message_id(run, thread, seq)
            if accepted is None or mid in accepted:
                expected[ids[thread]].add(mid)
        return expected

    def thread_count(self) -> int:
        return min(self.mails, self.threads)

    def slot(self, index: int) -> tuple[int, int]:
        """(thread, sequence number in the thread) of mail `index`."""
        return _slots(self.mails, self.threads, self.order)[index]


@functools.cache
def _slots(mails: int, threads: int, order: str) -> list[tuple[int, int]]:
    threads = min(mails, threads)
    sizes = [mails // threads + (1 if t < mails % threads else 0) for t in range(threads)]
    if order == "roots-first":
        return sorted(((t, j) for t in range(threads) for j in range(sizes[t])), key=_round)
    window = mails * CONVERSATION_SHARE_OF_RUN
    start_gap = (mails - window) / threads
    timed = [
        (t * start_gap + j * window / max(sizes[t] - 1, 1), t, j)
        for t in range(threads)
        for j in range(sizes[t])
    ]
    return [(t, j) for _, t, j in sorted(timed)]


def _round(slot: tuple[int, int]) -> tuple[int, int]:
    thread, seq = slot
    return seq, thread


def root_id(run: str, thread: int) -> str:
    return f"<bench-{run}-t{thread}-root@example.com>"


def message_id(run: str, thread: int, seq: int) -> str:
    return root_id(run, thread) if seq == 0 else f"<bench-{run}-t{thread}-m{seq}@example.com>"


def sender(run: str, thread: int) -> str:
    return f"customer{thread}-{run}@example.com"


@dataclass(frozen=True)
class Mail:
    message_id: str
    sender: str
    raw: bytes


def thread_mail(run: str, index: int, layout: Layout) -> Mail:
    """Mail `index` of a run: its Message-ID, envelope sender and RFC 5322 bytes."""
    thread, seq = layout.slot(index)
    mid = message_id(run, thread, seq)
    headers = [
        f"From: Customer {thread} <{sender(run, thread)}>",
        f"To: <{layout.mailbox}>",
        f"Subject: {'Re: ' if seq else ''}Order {run}-{thread}",
        f"Date: {format_datetime(datetime(2025, 1, 1, tzinfo=UTC))}",
        f"Message-ID: {mid}",
    ]
    if seq:
        root = root_id(run, thread)
        headers += [f"In-Reply-To: {root}", f"References: {root}"]
    headers += ["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8"]
    body = BODY_LINE.format(order=f"{run}-{thread}-{seq}") * BODY_LINES
    raw = "\r\n".join(headers) + "\r\n\r\n" + body.replace("\n", "\r\n")
    return Mail(mid, sender(run, thread), raw.encode("utf-8"))


def write_mbox(path: Path, *, run: str, layout: Layout) -> None:
    box = mailbox.mbox(path, create=True)
    try:
        box.lock()
        for index in range(layout.mails):
            box.add(mailbox.mboxMessage(thread_mail(run, index, layout).raw))
        box.flush()
    finally:
        box.unlock()
        box.close()
