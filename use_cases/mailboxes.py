"""Which recipient addresses are ours, and which mailbox each one feeds."""

from __future__ import annotations

import re
from collections.abc import Iterable

# RFC 5321 §4.5.3.1.1.
MAX_LOCAL_PART = 64
# A local part becomes a mailbox: the name of its threads (workflow ids), the From: of the
# mail we send. So only RFC 5321's dot-atom (no quoted strings: `"user@evil.com"`), in ASCII,
# without `/` (a path), `%` (the percent hack, RFC 1123 §5.2.16) or `!` (a UUCP bang path):
# atoms of atext joined by single dots, none leading or trailing (so no `..`).
ATEXT = r"[a-z0-9#$&'*+\-=?^_`{|}~]"
DOT_ATOM = re.compile(rf"{ATEXT}+(?:\.{ATEXT}+)*", re.ASCII)
# RFC 5321 §4.5.1: every domain we accept mail for must accept `postmaster`, even without a
# domain (`RCPT TO:<postmaster>`), case-insensitively.
POSTMASTER = "postmaster"


def valid_local_part(local: str) -> bool:
    return len(local) <= MAX_LOCAL_PART and DOT_ATOM.fullmatch(local) is not None


class Mailboxes:
    """Accepted domains and, optionally, an explicit list of mailbox addresses.

    With no explicit list, every valid local part at an accepted domain is a mailbox. A
    sub-address (`support+anything@domain`, RFC 5233) feeds the mailbox `support@domain`.
    Mail to `postmaster` (bare or at any accepted domain) feeds the `postmaster` mailbox:
    `postmaster@<first domain>` unless another of ours is named. Anything else is foreign:
    we are never an open relay.
    """

    def __init__(
        self, domains: Iterable[str], addresses: Iterable[str] = (), postmaster: str = ""
    ) -> None:
        ordered = [d.strip().lower() for d in domains if d.strip()]
        self.domains = frozenset(ordered)
        self.addresses = frozenset(a.strip().lower() for a in addresses if a.strip())
        first = ordered[0] if ordered else ""
        self.postmaster = postmaster.strip().lower() or f"{POSTMASTER}@{first}"

    def resolve(self, recipient: str) -> str | None:
        address = recipient.strip().strip("<>").lower()
        local, at, domain = address.rpartition("@")
        if address == POSTMASTER or (local == POSTMASTER and domain in self.domains):
            return self.postmaster
        if not at or domain not in self.domains or not valid_local_part(local):
            return None
        base = local.split("+", 1)[0]
        if not base or base.endswith("."):
            return None
        mailbox = f"{base}@{domain}"
        if mailbox == self.postmaster or base == POSTMASTER:
            return self.postmaster
        if self.addresses and mailbox not in self.addresses:
            return None
        return mailbox

    def resolve_all(self, recipients: Iterable[str]) -> list[str]:
        found = (self.resolve(r) for r in recipients)
        return list(dict.fromkeys(m for m in found if m))

    @property
    def default(self) -> str | None:
        return min(self.addresses) if self.addresses else None
