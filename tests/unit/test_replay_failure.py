"""`replay` when a hand-off fails mid-way: the error surfaces as itself, nothing hangs."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from adapters.inbound.mime import parse_email
from orchestrator import replay as replay_module
from orchestrator.replay import replay
from tests.fakes import FakeThreadGateway
from use_cases.mailboxes import Mailboxes
from use_cases.models import NewMessage, ThreadKey
from use_cases.ports import HandoffFailed


class FailsAfter(FakeThreadGateway):
    def __init__(self, accepted: int) -> None:
        super().__init__()
        self.accepted = accepted

    async def new_message(self, key: ThreadKey, message: NewMessage) -> None:
        if len(self.handed_off) >= self.accepted:
            raise HandoffFailed("Temporal did not accept the message (fake)")
        await super().new_message(key, message)


def mails(directory: Path, count: int) -> Path:
    directory.mkdir()
    for n in range(count):
        (directory / f"{n:03}.eml").write_bytes(
            f"From: a@example.com\r\nTo: support@mailroom.local\r\nSubject: Case {n}\r\n"
            f"Message-ID: <case-{n}@example.com>\r\n\r\nBody {n}\r\n".encode()
        )
    return directory


async def test_a_failed_hand_off_stops_the_replay_with_its_own_error(tmp_path: Path) -> None:
    # More mail than the lanes' queues hold: the reader is blocked on a full lane when the
    # failure comes, and must not hang there.
    count = replay_module.REPLAY_LANES * (replay_module.LANE_QUEUE + 2)
    gateway = FailsAfter(accepted=5)
    with pytest.raises(HandoffFailed):
        await asyncio.wait_for(
            replay(
                [mails(tmp_path / "mail", count)],
                gateway=gateway,
                parse=parse_email,
                mailboxes=Mailboxes(["mailroom.local"]),
            ),
            timeout=10,
        )
    assert len(gateway.handed_off) == 5
