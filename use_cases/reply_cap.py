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
