"""`mailroom send`: deliver .eml files over SMTP, like any mail client would."""

from __future__ import annotations

import re
import smtplib
from pathlib import Path

from adapters.inbound.mime import parse_email

SEND_TIMEOUT_SECONDS = 60


class SendFailed(RuntimeError):
    pass


def send_file(path: Path, *, host: str, port: int, to: list[str], sender: str | None) -> str:
    raw = path.read_bytes()
    email = parse_email(raw)
    recipients = to or [*email.to, *email.cc]
    if not recipients:
        raise SendFailed(f"{path}: no To/Cc in the file; give --to ADDRESS")
    envelope_from = sender if sender is not None else email.from_addr
    try:
        with smtplib.SMTP(host, port, timeout=SEND_TIMEOUT_SECONDS) as smtp:
            refused = smtp.sendmail(envelope_from, recipients, on_the_wire(raw))
    except smtplib.SMTPRecipientsRefused as exc:
        raise SendFailed(f"{path}: {_answers(exc.recipients)}") from exc
    except smtplib.SMTPResponseException as exc:
        raise SendFailed(f"{path}: {exc.smtp_code} {_text(exc.smtp_error)}") from exc
    except OSError as exc:
        raise SendFailed(
            f"{path}: cannot connect to {host}:{port} ({exc}); is `mailroom up` running?"
        ) from exc
    note = f" (refused: {_answers(refused)})" if refused else ""
    return f"{path}: accepted for {', '.join(r for r in recipients if r not in refused)}{note}"


def on_the_wire(raw: bytes) -> bytes:
    """Lines ending in <CR><LF> (RFC 5321 §2.3.8): smtplib sends bytes as they are, and
    a file saved on Unix ends its lines in <LF> alone, which a strict server refuses."""
    return re.sub(rb"\r?\n", b"\r\n", raw)


def _answers(refused: dict[str, tuple[int, bytes]]) -> str:
    return "; ".join(f"{rcpt}: {code} {_text(text)}" for rcpt, (code, text) in refused.items())


def _text(raw: bytes | str) -> str:
    return raw.decode(errors="replace") if isinstance(raw, bytes) else raw
