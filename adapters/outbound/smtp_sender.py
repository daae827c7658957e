"""EmailSender through a real SMTP relay, remembering what it sent in a SQLite log.

SMTP itself has no idempotency: if we crash after the relay said 250 but before we
recorded it, Temporal retries and the mail goes out a second time with the *same*
Message-ID, which receiving clients collapse. The log makes that window tiny.
"""

from __future__ import annotations

import asyncio
import contextlib
import smtplib
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from adapters.outbound.mail_templates import ReplyTemplates
from adapters.outbound.mime_out import to_mime
from use_cases.mail import OutboundEmail, SendResult
from use_cases.ports import PermanentDeliveryFailure

SMTP_TIMEOUT_SECONDS = 30


class MessageLog(Protocol):
    """The Message-IDs the relay took: SentLog here, PostgresSentLog shared by nodes."""

    def was_sent(self, message_id: str) -> bool: ...

    def record(self, message_id: str) -> None: ...


class SentLog:
    def __init__(self, path: Path) -> None:
        self.path = path

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=30)
        db.execute(
            "CREATE TABLE IF NOT EXISTS sent (message_id TEXT PRIMARY KEY, sent_at TEXT NOT NULL)"
        )
        return db

    def was_sent(self, message_id: str) -> bool:
        with self._connect() as db:
            row = db.execute("SELECT 1 FROM sent WHERE message_id = ?", (message_id,)).fetchone()
        return row is not None

    def record(self, message_id: str) -> None:
        with self._connect() as db:
            db.execute(
                "INSERT OR IGNORE INTO sent VALUES (?, ?)",
                (message_id, datetime.now(UTC).isoformat()),
            )


class SmtpRelaySender:
    def __init__(
        self, host: str, port: int, sent_log: MessageLog, templates: ReplyTemplates | None = None
    ) -> None:
        self.host = host
        self.port = port
        self.sent_log = sent_log
        self.templates = templates

    async def send(self, mail: OutboundEmail) -> SendResult:
        return await asyncio.to_thread(self._send_once, mail)

    def _send_once(self, mail: OutboundEmail) -> SendResult:
        if self.sent_log.was_sent(mail.message_id):
            return SendResult(message_id=mail.message_id, already_sent=True)
        message = to_mime(mail, sent_at=datetime.now(UTC), templates=self.templates)
        relay = smtplib.SMTP(self.host, self.port, timeout=SMTP_TIMEOUT_SECONDS)
        try:
            relay.send_message(message, from_addr=envelope_sender(mail), to_addrs=list(mail.to))
            # Recorded the moment the relay said 250 to DATA: whatever QUIT answers, the mail
            # is the relay's now, and a retry must not send it again.
            self.sent_log.record(mail.message_id)
        except smtplib.SMTPRecipientsRefused as refused:
            answers = refused.recipients.values()
            if all(code >= 500 for code, _ in answers):
                code, text = next(iter(answers))
                raise PermanentDeliveryFailure(str(code), _text(text), mail.to) from refused
            raise
        except smtplib.SMTPResponseException as error:
            if error.smtp_code >= 500:  # 4xx stays an ordinary error: Temporal retries it
                raise PermanentDeliveryFailure(
                    str(error.smtp_code), _text(error.smtp_error), mail.to
                ) from error
            raise
        finally:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                relay.quit()
            relay.close()
        return SendResult(message_id=mail.message_id, already_sent=False)


def envelope_sender(mail: OutboundEmail) -> str:
    """Automatic replies go out with a null return path (RFC 3834 §3.3), so any bounce
    or auto-reply to them goes nowhere instead of starting a loop."""
    return "" if "Auto-Submitted" in mail.headers else mail.from_addr


def _text(raw: bytes | str) -> str:
    return raw.decode(errors="replace") if isinstance(raw, bytes) else raw
