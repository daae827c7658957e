from __future__ import annotations

from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from adapters.outbound.smtp_sender import SentLog, SmtpRelaySender
from tests.support import free_port, plain_text
from use_cases.mail import OutboundEmail


class RecordingRelay:
    def __init__(self) -> None:
        self.received: list[Envelope] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.received.append(envelope)
        return "250 OK"


@pytest.fixture
def relay() -> Iterator[tuple[RecordingRelay, int]]:
    handler = RecordingRelay()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


def ack(message_id: str = "<ack-1@mailroom.local>") -> OutboundEmail:
    return OutboundEmail(
        message_id=message_id,
        from_addr="support@mailroom.local",
        to=("alice@example.com",),
        subject="Re: hi",
        text="got it",
        thread_id="thread-support@mailroom.local-1",
        in_reply_to="<q@x>",
        references=("<q@x>",),
        headers={"Auto-Submitted": "auto-replied", "X-Loop": "support@mailroom.local"},
    )


async def test_sends_through_the_relay_once_per_message_id(
    relay: tuple[RecordingRelay, int], tmp_path: Path
) -> None:
    handler, port = relay
    sender = SmtpRelaySender("127.0.0.1", port, SentLog(tmp_path / "sent.sqlite"))
    first = await sender.send(ack())
    again = await sender.send(ack())
    assert (first.already_sent, again.already_sent) == (False, True)
    assert len(handler.received) == 1
    envelope = handler.received[0]
    assert envelope.mail_from == "<>", "automatic replies use a null return path (RFC 3834)"
    assert envelope.rcpt_tos == ["alice@example.com"]
    sent = message_from_bytes(envelope.original_content or b"")
    assert sent["Message-ID"] == "<ack-1@mailroom.local>"
    assert sent["In-Reply-To"] == "<q@x>" and sent["Auto-Submitted"] == "auto-replied"


async def test_the_relay_gets_the_flowed_text_the_html_and_the_tagged_subject(
    relay: tuple[RecordingRelay, int], tmp_path: Path
) -> None:
    handler, port = relay
    await SmtpRelaySender("127.0.0.1", port, SentLog(tmp_path / "sent.sqlite")).send(ack())
    sent = message_from_bytes(handler.received[0].original_content or b"", policy=policy.default)
    assert isinstance(sent, EmailMessage)
    assert sent.get_content_type() == "multipart/alternative"
    assert plain_text(sent).startswith("got it\n\n-- \nmailroom, support@mailroom.local\n")
    assert sent.get_body(preferencelist=("html",)) is not None
    assert str(sent["Subject"]).startswith("Re: hi [#")


async def test_a_relay_that_is_down_raises_so_temporal_retries(tmp_path: Path) -> None:
    sender = SmtpRelaySender("127.0.0.1", free_port(), SentLog(tmp_path / "sent.sqlite"))
    with pytest.raises(OSError):
        await sender.send(ack())
    assert not SentLog(tmp_path / "sent.sqlite").was_sent("<ack-1@mailroom.local>")


class RefusingRelay:
    def __init__(self, answer: str) -> None:
        self.answer = answer

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        return self.answer


@pytest.mark.parametrize(
    ("answer", "permanent"), [("550 5.1.1 unknown user", True), ("451 4.7.1 try later", False)]
)
async def test_a_5xx_is_permanent_and_a_4xx_is_retried(
    tmp_path: Path, answer: str, permanent: bool
) -> None:
    from use_cases.ports import PermanentDeliveryFailure

    port = free_port()
    controller = Controller(RefusingRelay(answer), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        sender = SmtpRelaySender("127.0.0.1", port, SentLog(tmp_path / "sent.sqlite"))
        with pytest.raises(Exception) as error:
            await sender.send(ack())
    finally:
        controller.stop()
    assert isinstance(error.value, PermanentDeliveryFailure) is permanent
    if permanent:
        assert error.value.status == "550"  # type: ignore[attr-defined]
