"""The automatic-reply cap: pure bookkeeping, kept in workflow state."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, Field


class ReplyLog(BaseModel):
    """When we sent automatic mail to whom (recent entries only)."""

    sent: list[tuple[str, datetime]] = Field(default_factory=list)
    suppressed: int = 0

    def allows(self, recipient: str, now: datetime, cap: int, window: timedelta) -> bool:
        recent = [(who, at) for who, at in self.sent if now - at < window]
        self.sent = recent
        return sum(1 for who, _ in recent if who == recipient) < cap

    def record(self, recipients: tuple[str, ...], now: datetime) -> None:
        self.sent.extend((who, now) for who in recipients)


# Providers that deliver `first.last@` and `firstlast@` to one mailbox.
DOTS_IGNORED = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}


def capped_address(address: str) -> str:
    """The mailbox an address reaches, for counting automatic mail: `Victim+1@Example.com`
    and `victim+2@example.com` are one person, so they share one cap (RFC 5233
    sub-addresses; dots for the providers that ignore them)."""
    local, _, domain = address.strip().lower().rpartition("@")
    local = local.split("+", 1)[0]
    if domain in DOTS_IGNORED:
        local, domain = local.replace(".", ""), DOTS_IGNORED[domain]
    return f"{local}@{domain}" if domain else local


class AutomaticMailCaps(BaseModel):
    """Automatic mail allowed per window, across threads: to one person (capped_address),
    to one domain, and in all. A robot that rotates its address, or a forged flood naming
    ever new victims at one domain, runs into the second and third."""

    per_address: int = 20
    per_domain: int = 200
    total: int = 10_000
    window: timedelta = timedelta(hours=1)
