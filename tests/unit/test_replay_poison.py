"""`replay` over poison mail: a poison charset is imported like any mail, one that can never be
handed off is counted as skipped with its file and reason, and the mail around it is imported."""

from __future__ import annotations

from pathlib import Path

from adapters.inbound.mime import parse_email
from orchestrator.replay import replay
from tests.fakes import FakeBlobStore, FakeThreadGateway
from tests.poison import poison_mail, too_large_mail
from use_cases.mailboxes import Mailboxes
from use_cases.models import NewMessage, ThreadKey


def normal(message_id: str) -> bytes:
    return (
        f"From: a@example.com\r\nTo: support@mailroom.local\r\nSubject: Case\r\n"
        f"Message-ID: {message_id}\r\n\r\nBody\r\n"
    ).encode()


class RefusesOne(FakeThreadGateway):
    """A bug one mail's content provokes past the parser (a TypeError in a hand-off)."""

    async def new_message(self, key: ThreadKey, message: NewMessage) -> None:
        if message.message_id == "<bug@x>":
            raise TypeError("a bug this mail provokes")
        await super().new_message(key, message)


async def test_poison_is_imported_and_what_can_never_be_handed_off_is_skipped(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "mail"
    folder.mkdir()
    files = {
        "1-before.eml": normal("<before@x>"),
        "2-rot13.eml": poison_mail("rot13", "<rot13@x>"),
        "3-too-large.eml": too_large_mail("<large@x>"),
        "4-bug.eml": normal("<bug@x>"),
        "5-after.eml": normal("<after@x>"),
    }
    for name, raw in files.items():
        (folder / name).write_bytes(raw)
    gateway = RefusesOne()
    summary = await replay(
        [folder],
        gateway=gateway,
        parse=parse_email,
        mailboxes=Mailboxes(["mailroom.local"]),
        blobs=FakeBlobStore(),
        lanes=1,
    )
    assert [m.message_id for _, m in gateway.handed_off] == ["<before@x>", "<rot13@x>", "<after@x>"]
    assert summary.accepted == 3 and summary.rejected == []
    assert [entry.split(": ", 1)[0] for entry in summary.skipped] == [
        str(folder / "3-too-large.eml"),
        str(folder / "4-bug.eml"),
    ]
    assert "too large for a signal" in summary.skipped[0]
    assert "TypeError: a bug this mail provokes" in summary.skipped[1]
    assert summary.line() == (
        "replayed 5 messages: 3 accepted, 0 duplicate, 0 rejected, 2 skipped "
        "(can never be handed off: 1 too large for a signal, 1 TypeError)"
    )
