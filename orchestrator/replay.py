"""`mailroom replay`: feed mail from disk through the same ingest use case as SMTP."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from adapters.inbound.files import read_messages
from use_cases.claim_check import PayloadTooLarge
from use_cases.ingest import ingest_email
from use_cases.mailboxes import Mailboxes
from use_cases.models import InboundEmail
from use_cases.ports import BlobStore, EmailParser, ThreadGateway
from use_cases.threading import Threading


@dataclass
class ReplaySummary:
    accepted: int = 0
    duplicate: int = 0
    rejected: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"replayed {self.accepted + self.duplicate + len(self.rejected)} messages: "
            f"{self.accepted} accepted, {self.duplicate} duplicate, "
            f"{len(self.rejected)} rejected"
        )


def mailboxes_for(email: InboundEmail, mailboxes: Mailboxes, forced: str | None) -> list[str]:
    if forced:
        return [forced]
    return mailboxes.resolve_all([*email.to, *email.cc])


async def replay(
    paths: list[Path],
    *,
    gateway: ThreadGateway,
    parse: EmailParser,
    mailboxes: Mailboxes,
    forced_mailbox: str | None = None,
    blobs: BlobStore | None = None,
    threading: Threading | None = None,
) -> ReplaySummary:
    """Duplicates are counted per run (same Message-ID to the same mailbox twice); a
    message replayed again later is still applied once by its thread's dedup."""
    summary = ReplaySummary()
    seen: set[tuple[str, str]] = set()
    progress = Progress()
    for where, raw in read_messages(paths):
        email = parse(raw)
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
        try:
            await ingest_email(
                raw,
                mailboxes=fresh,
                gateway=gateway,
                parse=already_parsed(email),
                blobs=blobs,
                threading=threading,
            )
        except PayloadTooLarge as exc:
            summary.rejected.append(f"{where}: {exc}")
            continue
        summary.accepted += 1
        progress.tick(summary)
    progress.done()
    return summary


class Progress:
    """A one-line progress counter on stderr, only when someone is watching."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()

    def tick(self, summary: ReplaySummary) -> None:
        if self.enabled:
            print(f"\r{summary.line()}", end="", file=sys.stderr, flush=True)

    def done(self) -> None:
        if self.enabled:
            print(file=sys.stderr)


def already_parsed(email: InboundEmail) -> EmailParser:
    def parse(_raw: bytes) -> InboundEmail:
        return email

    return parse
