"""Which recipient addresses are ours, and which mailbox each one feeds."""

from __future__ import annotations

import re
from collections.abc import Iterable

# RFC 5321 §4.5.3.1.1.
MAX_LOCAL_PART = 64
# A local part becomes a mailbox: the name of its threads (workflow ids), the From: of the
# mail we send. So only RFC 5321's dot-atom (no quoted strings: `"user@evil.com"`), in ASCII,
# without `/` (a path), `%` (the percent hack, RFC 1123 §5.2.16) or `!` (a UUCP bang path):
# atoms of atext joined by single dots, none leading or trailing (so no `..`). Upper case is
# valid (and lowered); no other letter is, not even one that lowers to ASCII (`\u212a`, the
# Kelvin sign, lowers to `k`).
ATEXT = r"[a-zA-Z0-9#$&'*+\-=?^_`{|}~]"
DOT_ATOM = re.compile(rf"{ATEXT}+(?:\.{ATEXT}+)*", re.ASCII)
# RFC 5321 §4.5.1: every domain we accept mail for must accept `postmaster`, even without a
# domain (`RCPT TO:<postmaster>`), case-insensitively.
POSTMASTER = "postmaster"


def valid_local_part(local: str) -> bool:
    return len(local) <= MAX_LOCAL_PART and DOT_ATOM.fullmatch(local) is not None


def normalize_domain(domain: str) -> str | None:
    """One form for a domain name, whoever wrote it: lower case, without the trailing dot of
    a fully qualified name (`example.com.`), an internationalised name in its ASCII form
    (`bücher.example` → `xn--bcher-kva.example`, what an MTA without SMTPUTF8 sends). None:
    not a domain name. Python's own `idna` codec is IDNA 2003: the few names it maps
    differently from IDNA 2008 (`ß`, `ς`, joiners) are to be configured in their `xn--` form."""
    name = domain.strip().lower()
    name = name[:-1] if name.endswith(".") else name
    if not name:
        return None
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    return name


def normalize_address(address: str) -> str:
    """`Local@Domain.` → `local@domain` (normalize_domain); the local part is lowered as is,
    so check it (valid_local_part) first."""
    local, at, domain = address.strip().rpartition("@")
    if not at:
        return address.strip().lower()
    return f"{local.lower()}@{normalize_domain(domain) or domain.lower()}"


class Mailboxes:
    """Accepted domains and, optionally, an explicit list of mailbox addresses.

    Domains are compared in one form (normalize_domain): `info@xn--bcher-kva.example`,
    `info@bücher.example` and `info@Bücher.Example.` reach the same mailbox, named with the
    ASCII form. With no explicit list, every valid local part at an accepted domain is a mailbox. A
    sub-address (`support+anything@domain`, RFC 5233) feeds the mailbox `support@domain`.
    Mail to `postmaster` (bare or at any accepted domain) feeds the `postmaster` mailbox:
    `postmaster@<first domain>` unless another of ours is named. Anything else is foreign:
    we are never an open relay.
    """

    def __init__(
        self, domains: Iterable[str], addresses: Iterable[str] = (), postmaster: str = ""
    ) -> None:
        ordered = [name for name in map(normalize_domain, domains) if name]
        self.domains = frozenset(ordered)
        self.addresses = frozenset(normalize_address(a) for a in addresses if a.strip())
        first = ordered[0] if ordered else ""
        self.postmaster = normalize_address(postmaster) or f"{POSTMASTER}@{first}"

    def resolve(self, recipient: str) -> str | None:
        address = recipient.strip().strip("<>")
        local, at, written_domain = address.rpartition("@")
        if not at:
            return self.postmaster if address.lower() == POSTMASTER else None
        domain = normalize_domain(written_domain)
        # ASCII before lower(): `\u212aelvin` must not become the mailbox `kelvin`.
        if not local.isascii() or domain not in self.domains:
            return None
        local = local.lower()
        if local == POSTMASTER:
            return self.postmaster
        if not valid_local_part(local):
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
