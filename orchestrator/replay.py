"""`mailroom replay`: feed mail from disk through the same ingest use case as SMTP.

A message that can never be handed off (use_cases/permanent_failures.py: too large for a
signal, refused by a model, an error its content provokes) is counted as skipped, with its
file and reason, and the replay goes on with the rest; a failure that may pass (Temporal not
answering) stops it, since every message after it would fail the same way."""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from adapters.concurrently import first_failure_group
from adapters.inbound.files import read_messages
from use_cases.ingest import ingest_email
from use_cases.mail import InboundEmail
from use_cases.mailboxes import Mailboxes
from use_cases.permanent_failures import permanent_reason
from use_cases.ports import Backpressure, BlobStore, EmailParser, ThreadGateway
from use_cases.replay_lanes import ConversationLanes
from use_cases.threading import Threading


@dataclass
class ReplaySummary:
    accepted: int = 0
    duplicate: int = 0
    rejected: list[str] = field(default_factory=list)  # "<where>: not for one of our mailboxes"
    skipped: list[str] = field(default_factory=list)  # "<where>: <why it can never be handed off>"
    skip_kinds: Counter[str] = field(default_factory=Counter)

    def skip(self, where: str, reason: str) -> None:
        self.skipped.append(f"{where}: {reason}")
        self.skip_kinds[reason.split(":", 1)[0]] += 1

    def line(self) -> str:
        total = self.accepted + self.duplicate + len(self.rejected) + len(self.skipped)
        line = (
            f"replayed {total} messages: {self.accepted} accepted, {self.duplicate} duplicate, "
            f"{len(self.rejected)} rejected, {len(self.skipped)} skipped"
        )
        if not self.skipped:
            return line
        kinds = ", ".join(f"{n} {kind}" for kind, n in self.skip_kinds.most_common())
        return f"{line} (can never be handed off: {kinds})"


def mailboxes_for(email: InboundEmail, mailboxes: Mailboxes, forced: str | None) -> list[str]:
    if forced:
        return [forced]
    return mailboxes.resolve_all([*email.to, *email.cc])


REPLAY_LANES = 8
LANE_QUEUE = 16


async def replay(
    paths: list[Path],
    *,
    gateway: ThreadGateway,
    parse: EmailParser,
    mailboxes: Mailboxes,
    forced_mailbox: str | None = None,
    blobs: BlobStore | None = None,
    threading: Threading | None = None,
    lanes: int = REPLAY_LANES,
    backlog: Backpressure | None = None,
) -> ReplaySummary:
    """Duplicates are counted per run (same Message-ID to the same mailbox twice); a
    message replayed again later is still applied once by its thread's dedup.

    Messages are handed off in `lanes` concurrent lanes that keep each conversation in file
    order (use_cases.replay_lanes); while the threads are behind (`backlog`), replay waits."""
    summary = ReplaySummary()
    seen: set[tuple[str, str]] = set()
    progress = Progress()
    conversations = ConversationLanes(lanes)
    queues: list[asyncio.Queue[Handoff | None]] = [asyncio.Queue(LANE_QUEUE) for _ in range(lanes)]

    async def lane(queue: asyncio.Queue[Handoff | None]) -> None:
        while (item := await queue.get()) is not None:
            if backlog is not None and backlog.overloaded:
                progress.waiting()
                await backlog.wait_until_clear()
            try:
                await ingest_email(
                    item.raw,
                    mailboxes=item.mailboxes,
                    gateway=gateway,
                    parse=already_parsed(item.email),
                    blobs=blobs,
                    threading=threading,
                )
            except Exception as exc:
                reason = permanent_reason(exc)
                if reason is None:
                    raise
                summary.skip(item.where, reason)
                continue
            summary.accepted += 1
            progress.tick(summary)

    async def read_into_lanes() -> None:
        for where, raw in read_messages(paths):
            try:
                email = parse(raw)
            except Exception as exc:  # the parser is total; a parser in a pool may still fail
                reason = permanent_reason(exc)
                if reason is None:
                    raise
                summary.skip(where, reason)
                continue
            targets = mailboxes_for(email, mailboxes, forced_mailbox)
            if not targets:
                summary.rejected.append(
                    f"{where}: no recipient is one of our mailboxes (use --mailbox)"
                )
                continue
            fresh = [m for m in targets if (m, email.message_id) not in seen]
            seen.update((m, email.message_id) for m in targets)
            if not fresh:
                summary.duplicate += 1
                continue
            lane_index = conversations.assign(email)
            await queues[lane_index].put(Handoff(where, raw, email, fresh))
        for queue in queues:
            await queue.put(None)

    # One lane's failure (Temporal unreachable) stops the replay, reported as itself.
    async with first_failure_group() as group:
        for queue in queues:
            group.create_task(lane(queue))
        await read_into_lanes()
    progress.done()
    return summary


@dataclass(frozen=True)
class Handoff:
    where: str
    raw: bytes
    email: InboundEmail
    mailboxes: list[str]


class Progress:
    """A one-line progress counter on stderr, only when someone is watching."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()
        self.paused = False

    def waiting(self) -> None:
        """Said once per pause, watched or not: a replay that stops moving must say why."""
        if not self.paused:
            self.paused = True
            print(
                "\nwaiting: threads are behind on mail already handed off "
                "(MAILROOM_MAX_BACKLOG_SECONDS); is a worker running?",
                file=sys.stderr,
                flush=True,
            )

    def tick(self, summary: ReplaySummary) -> None:
        self.paused = False
        if self.enabled:
            print(f"\r{summary.line()}", end="", file=sys.stderr, flush=True)

    def done(self) -> None:
        if self.enabled:
            print(file=sys.stderr)


def already_parsed(email: InboundEmail) -> EmailParser:
    def parse(_raw: bytes) -> InboundEmail:
        return email

    return parse
