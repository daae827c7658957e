"""The built-in outbox: a Maildir under the data dir that receives every mail we send.

Each mail's file name is a hash of its Message-ID, written to tmp/ and renamed into new/
(the Maildir delivery protocol), so a send that Temporal retries finds the file and does
not deliver twice; a crash mid-write leaves only a tmp/ file. The file and the rename are
fsynced before the send reports success (durable_files): a power loss must not unsend a
mail the thread has recorded as sent.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
import uuid
from datetime import UTC, datetime
from email import policy
from email.parser import BytesHeaderParser
from pathlib import Path

from adapters.outbound.durable_files import make_directory, publish, sync_directory
from adapters.outbound.mail_templates import ReplyTemplates
from adapters.outbound.mime_out import SENT_AT_HEADER, to_mime
from adapters.outbound.outbox_entry import entry_of
from adapters.spans import traced_send
from use_cases.mail import OutboundEmail, OutboxEntry, SendResult

# Every set of the Maildir flags (Draft, Flagged, Passed, Replied, Seen, Trashed), each
# spelled in ASCII order as readers write them.
MAILDIR_FLAG_SETS = tuple(
    "".join(flags) for n in range(7) for flags in itertools.combinations("DFPRST", n)
)


def maildir_name(message_id: str) -> str:
    return hashlib.sha256(message_id.encode()).hexdigest()[:40] + ".eml"


class MaildirOutbox:
    def __init__(self, root: Path, templates: ReplyTemplates | None = None) -> None:
        self.root = root
        self.templates = templates
        self._made = False

    def _ensure(self) -> None:
        """Make the Maildir's folders on the first send (three syscalls saved per reply
        after it); a delivery into a folder removed since then makes them again."""
        if not self._made:
            for sub in ("tmp", "new", "cur"):
                make_directory(self.root / sub)
            self._made = True

    @traced_send("outbox.write")
    async def send(self, mail: OutboundEmail) -> SendResult:
        return await asyncio.to_thread(self._deliver, mail)

    def _deliver(self, mail: OutboundEmail) -> SendResult:
        self._ensure()
        name = maildir_name(mail.message_id)
        final = self.root / "new" / name
        for delivered in (final, *self._read_names(name)):
            if delivered.exists():
                # A first attempt may have died between its rename and the directory's
                # fsync: "sent" must not be reported before the name is durable.
                sync_directory(delivered.parent)
                return SendResult(message_id=mail.message_id, already_sent=True)
        data = to_mime(mail, sent_at=datetime.now(UTC), templates=self.templates).as_bytes()
        try:
            self._write(name, data, final)
        except FileNotFoundError:  # the folders were removed while we ran
            self._made = False
            self._ensure()
            self._write(name, data, final)
        return SendResult(message_id=mail.message_id, already_sent=False)

    def _read_names(self, name: str) -> list[Path]:
        """Where a Maildir reader (mutt, Dovecot) may have moved `name` once read: `cur/`,
        with the `:2,` info and any of its flags (RFC-less but universal Maildir, flags in
        ASCII order): 64 stats, never a scan of a folder that may hold every mail sent."""
        cur = self.root / "cur"
        return [cur / name, *(cur / f"{name}:2,{flags}" for flags in MAILDIR_FLAG_SETS)]

    def _write(self, name: str, data: bytes, final: Path) -> None:
        # Unique per attempt: a local activity retried while its first attempt still
        # writes must not share the temporary file.
        publish(self.root / "tmp" / f"{name}.{os.getpid()}.{uuid.uuid4().hex}", data, final)

    def entries(self) -> list[OutboxEntry]:
        files = [
            *self.root.glob("new/*.eml"),
            *self.root.glob("cur/*.eml"),
            *self.root.glob("cur/*.eml:2,*"),
        ]
        entries = [read_entry(path) for path in files]
        return sorted(entries, key=lambda e: e.sent_at)


def read_entry(path: Path) -> OutboxEntry:
    with open(path, "rb") as source:
        headers = BytesHeaderParser(policy=policy.default).parse(source)
    sent_at = headers.get(SENT_AT_HEADER)
    when = (
        datetime.fromisoformat(str(sent_at))
        if sent_at
        else datetime.fromtimestamp(path.stat().st_mtime, UTC)
    )
    return entry_of(headers, when)
