"""EmailSender through a real SMTP relay, remembering what it sent in a SQLite log (each
mail's Message-ID and what `mailroom outbox` lists of it).

SMTP itself has no idempotency: if we crash after the relay said 250 but before we
recorded it, Temporal retries and the mail goes out a second time with the *same*
Message-ID, which receiving clients collapse. The log makes that window tiny.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import smtplib
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from adapters.outbound.mail_templates import ReplyTemplates
from adapters.outbound.mime_out import to_mime
from adapters.outbound.outbox_entry import entry_of, logged_entry
from adapters.spans import traced_send
from use_cases.mail import OutboundEmail, OutboxEntry, SendResult
from use_cases.ports import PermanentDeliveryFailure

SMTP_TIMEOUT_SECONDS = 30


class MessageLog(Protocol):
    """What the relay took: SentLog here, PostgresSentLog shared by nodes. `was_sent` is on
    the send path (one indexed lookup); `entries` is what `mailroom outbox` lists."""

    def was_sent(self, message_id: str) -> bool: ...

    def record(self, entry: OutboxEntry) -> None: ...

    def entries(self) -> list[OutboxEntry]: ...


# Kept since the log lists what it sent; a log made before has its rows without them.
DETAILS = ("from_addr", "to_addrs", "subject", "in_reply_to", "refs", "reply_to")


class SentLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._ready = False

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        if not self._ready:
            _prepare(db)
            self._ready = True
        return db

    def was_sent(self, message_id: str) -> bool:
        with contextlib.closing(self._connect()) as db:
            row = db.execute("SELECT 1 FROM sent WHERE message_id = ?", (message_id,)).fetchone()
        return row is not None

    def record(self, entry: OutboxEntry) -> None:
        with contextlib.closing(self._connect()) as db:
            db.execute(
                f"INSERT OR IGNORE INTO sent (message_id, sent_at, {', '.join(DETAILS)}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    entry.message_id,
                    entry.sent_at.astimezone(UTC).isoformat(),
                    entry.from_addr,
                    json.dumps(entry.to),
                    entry.subject,
                    entry.in_reply_to,
                    json.dumps(entry.references),
                    entry.reply_to,
                ),
            )

    def entries(self) -> list[OutboxEntry]:
        if not self.path.exists():  # nothing relayed yet: a listing makes no file
            return []
        with contextlib.closing(self._connect()) as db:
            rows = db.execute(
                f"SELECT message_id, sent_at, {', '.join(DETAILS)} FROM sent "
                "ORDER BY sent_at, message_id"
            ).fetchall()
        return [_listed(*row) for row in rows]


def _prepare(db: sqlite3.Connection) -> None:
    """Make the log, or add the detail columns to one made before them, under the write
    lock: processes opening an old log at once upgrade it once."""
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute(
            "CREATE TABLE IF NOT EXISTS sent (message_id TEXT PRIMARY KEY, sent_at TEXT NOT NULL)"
        )
        have = {row[1] for row in db.execute("PRAGMA table_info(sent)")}
        for column in DETAILS:
            if column not in have:
                db.execute(f"ALTER TABLE sent ADD COLUMN {column} TEXT")
        db.execute("CREATE INDEX IF NOT EXISTS sent_by_time ON sent (sent_at)")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def _listed(
    message_id: str,
    sent_at: str,
    from_addr: str | None,
    to: str | None,
    subject: str | None,
    in_reply_to: str | None,
    refs: str | None,
    reply_to: str | None,
) -> OutboxEntry:
    return logged_entry(
        message_id,
        datetime.fromisoformat(sent_at),
        from_addr,
        json.loads(to) if to else None,
        subject,
        in_reply_to,
        json.loads(refs) if refs else None,
        reply_to,
    )


class SmtpRelaySender:
    def __init__(
        self, host: str, port: int, sent_log: MessageLog, templates: ReplyTemplates | None = None
    ) -> None:
        self.host = host
        self.port = port
        self.sent_log = sent_log
        self.templates = templates

    @traced_send("smtp.relay")
    async def send(self, mail: OutboundEmail) -> SendResult:
        return await asyncio.to_thread(self._send_once, mail)

    def _send_once(self, mail: OutboundEmail) -> SendResult:
        if self.sent_log.was_sent(mail.message_id):
            return SendResult(message_id=mail.message_id, already_sent=True)
        sent_at = datetime.now(UTC)
        message = to_mime(mail, sent_at=sent_at, templates=self.templates)
        relay = smtplib.SMTP(self.host, self.port, timeout=SMTP_TIMEOUT_SECONDS)
        try:
            relay.send_message(message, from_addr=envelope_sender(mail), to_addrs=list(mail.to))
            # Recorded the moment the relay said 250 to DATA: whatever QUIT answers, the mail
            # is the relay's now, and a retry must not send it again.
            self.sent_log.record(entry_of(message, sent_at))
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
