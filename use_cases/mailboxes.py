"""Which recipient addresses are ours, and which mailbox each one feeds."""

from __future__ import annotations

from collections.abc import Iterable


class Mailboxes:
    """Accepted domains and, optionally, an explicit list of mailbox addresses.

    With no explicit list, every local part at an accepted domain is a mailbox. A
    sub-address (`support+anything@domain`, RFC 5233) feeds the mailbox `support@domain`.
    Anything else is foreign: we are never an open relay.
    """

    def __init__(self, domains: Iterable[str], addresses: Iterable[str] = ()) -> None:
        self.domains = frozenset(d.strip().lower() for d in domains if d.strip())
        self.addresses = frozenset(a.strip().lower() for a in addresses if a.strip())

    def resolve(self, recipient: str) -> str | None:
        address = recipient.strip().strip("<>").lower()
        local, at, domain = address.rpartition("@")
        if not at or not local or domain not in self.domains:
            return None
        mailbox = f"{local.split('+', 1)[0]}@{domain}"
        if self.addresses and mailbox not in self.addresses:
            return None
        return mailbox

    def resolve_all(self, recipients: Iterable[str]) -> list[str]:
        found = (self.resolve(r) for r in recipients)
        return list(dict.fromkeys(m for m in found if m))

    @property
    def default(self) -> str | None:
        return min(self.addresses) if self.addresses else None
