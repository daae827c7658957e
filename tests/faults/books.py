"""The books: every mail a client saw accepted is in exactly one thread exactly once, every
expected acknowledgement was sent exactly once."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from adapters.outbound.temporal_gateway import TemporalThreadGateway
from tests.faults.mta import Mail, SendingMta
from tests.support import wait_for
from use_cases.models import ThreadState
from use_cases.replies import reply_message_id

ACK_PREFIX = "<ack-"


@dataclass
class Books:
    sent: int
    attempts: int
    deferred: int  # 4xx answers
    dropped: int  # connections refused or lost
    rejected: dict[str, str]
    accepted: int
    applied: int
    duplicates: int
    lost: list[str]
    misplaced: list[str]
    unexpected: list[str]
    replies_expected: int
    replies_sent: int
    reply_duplicates: int
    replies_missing: list[str]
    replies_unexpected: list[str]
    threads: int = 0
    deduplicated: int = 0  # re-deliveries a thread recognised by Message-ID and ignored
    notes: list[str] = field(default_factory=list)

    @property
    def settled(self) -> bool:
        """Everything the clients sent is accepted, applied and acknowledged."""
        return self.accepted == self.sent and not self.lost and not self.replies_missing

    @property
    def balanced(self) -> bool:
        return (
            self.settled
            and not self.rejected
            and self.duplicates == 0
            and not self.misplaced
            and not self.unexpected
            and self.reply_duplicates == 0
            and not self.replies_unexpected
        )

    def line(self, name: str) -> str:
        return (
            f"{name}: sent {self.sent} (attempts {self.attempts}, 4xx {self.deferred}, "
            f"dropped {self.dropped}, 5xx {len(self.rejected)}), accepted {self.accepted}, "
            f"applied {self.applied}, duplicates {self.duplicates} "
            f"(re-deliveries deduplicated {self.deduplicated}), lost {len(self.lost)}, "
            f"misplaced {len(self.misplaced)}, threads {self.threads}, "
            f"replies expected {self.replies_expected}/sent {self.replies_sent} "
            f"(duplicates {self.reply_duplicates})" + "".join(f"; {n}" for n in self.notes)
        )

    def evidence(self) -> str:
        return (
            f"rejected={self.rejected} lost={self.lost[:20]} misplaced={self.misplaced[:20]} "
            f"unexpected={self.unexpected[:20]} replies_missing={self.replies_missing[:20]} "
            f"replies_unexpected={self.replies_unexpected[:20]}"
        )


async def read_books(
    mta: SendingMta, gateway: TemporalThreadGateway, replies: Counter[str]
) -> Books:
    """`replies`: Message-ID → times delivered (outbox or relay); only acknowledgements count."""
    states = await gateway.list()
    found_in: defaultdict[str, list[str]] = defaultdict(list)
    for state in states:
        for message_id in state.message_ids:
            found_in[message_id].append(state.thread_id)
    outcomes = mta.outcomes
    accepted = dict(outcomes.accepted)
    acks = Counter({m: n for m, n in replies.items() if m.startswith(ACK_PREFIX)})
    expected_acks = {first_ack(s) for s in states if s.message_ids}
    return Books(
        sent=len(mta.mails),
        attempts=outcomes.attempts,
        deferred=sum(outcomes.replies.values()),
        dropped=outcomes.dropped,
        rejected=dict(outcomes.rejected),
        accepted=len(accepted),
        applied=sum(1 for m in accepted if found_in.get(m)),
        duplicates=sum(len(threads) - 1 for threads in found_in.values()),
        lost=sorted(m for m in accepted if not found_in.get(m)),
        misplaced=sorted(m for m, mail in accepted.items() if _misplaced(mail, found_in)),
        unexpected=sorted(m for m in found_in if m not in accepted),
        replies_expected=len({mail.thread_id for mail in accepted.values()}),
        replies_sent=sum(acks.values()),
        reply_duplicates=sum(n - 1 for n in acks.values()),
        replies_missing=sorted(expected_acks - set(acks)) + _unacknowledged(states, accepted),
        replies_unexpected=sorted(set(acks) - expected_acks),
        threads=len(states),
        deduplicated=sum(s.duplicates_ignored for s in states),
    )


def _misplaced(mail: Mail, found_in: dict[str, list[str]]) -> bool:
    return any(thread != mail.thread_id for thread in found_in.get(mail.message_id, []))


def first_ack(state: ThreadState) -> str:
    """The acknowledgement a thread of human mail owes: to its first message."""
    return reply_message_id("ack", state.message_ids[0], state.mailbox)


def _unacknowledged(states: list[ThreadState], accepted: dict[str, Mail]) -> list[str]:
    """Threads of accepted mail that do not exist yet count as missing replies too."""
    have = {s.thread_id for s in states}
    wanted = {mail.thread_id for mail in accepted.values()}
    return sorted(f"(thread {t})" for t in wanted - have)


async def settled_books(
    read: Callable[[], Awaitable[Books]], *, timeout: float, what: str = "the books to balance"
) -> Books:
    """Poll the books until they settle; on timeout, the last reading (to report, not hide)."""
    last: list[Books] = []

    async def check() -> bool:
        books = await read()
        last[:] = [books]
        return books.settled

    try:
        await wait_for(check, timeout=timeout, what=what)
    except AssertionError:
        if not last:
            raise
    return last[0]


def report(books: Books, name: str, tmp_path: Path) -> str:
    line = books.line(name)
    print(f"\n{line}", flush=True)
    (tmp_path / "summary.txt").write_text(line + "\n")
    return line
