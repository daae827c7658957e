"""Everything mailroom sent, as `mailroom outbox` lists it: the built-in outbox's mail (sent
with no relay configured, or before one was) and the relayed mail the sent log keeps, which
with MAILROOM_DATABASE_URL is every node's; one entry per Message-ID, oldest first."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from use_cases.mail import OutboxEntry

Via = Literal["outbox", "relay"]


@dataclass(frozen=True)
class SentMail:
    entry: OutboxEntry
    via: Via  # where it went: the built-in outbox (a Maildir) or the relay

    def public(self) -> dict[str, Any]:
        return {**self.entry.model_dump(mode="json"), "via": self.via}


def sent_mail(in_outbox: list[OutboxEntry], relayed: list[OutboxEntry]) -> list[SentMail]:
    """The outbox's copy first: it is the mail itself, the sent log only its headers."""
    listed: dict[str, SentMail] = {}
    found = [SentMail(e, "outbox") for e in in_outbox] + [SentMail(e, "relay") for e in relayed]
    for mail in found:
        listed.setdefault(mail.entry.message_id, mail)
    return sorted(listed.values(), key=lambda m: (m.entry.sent_at, m.entry.message_id))


def where_from(mail: list[SentMail], outbox: Path) -> str:
    """ "3 mails in /data/outbox", "2 mails relayed", "5 mails: 3 in /data/outbox, 2 relayed"."""
    relayed = sum(m.via == "relay" for m in mail)
    kept = len(mail) - relayed
    if not relayed:
        return f"{_mails(kept)} in {outbox}"
    if not kept:
        return f"{_mails(relayed)} relayed"
    return f"{_mails(len(mail))}: {kept} in {outbox}, {relayed} relayed"


def _mails(count: int) -> str:
    return f"{count} mail" + ("" if count == 1 else "s")
