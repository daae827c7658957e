"""A relay that accepted a mail (250 after DATA) but fails the QUIT that follows: the send
activity must not fail, or Temporal's retry delivers the same mail again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from adapters.outbound.smtp_sender import SentLog, SmtpRelaySender
from tests.faults.deployment import RelaySink
from use_cases.mail import OutboundEmail


class RelayFailingAtQuit(RelaySink):
    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:
        return "421 4.3.2 Service shutting down"


async def test_a_mail_the_relay_accepted_is_not_sent_again_when_quit_fails(
    tmp_path: Path,
) -> None:
    relay = RelayFailingAtQuit()
    relay.start()
    sender = SmtpRelaySender("127.0.0.1", relay.port, SentLog(tmp_path / "sent.sqlite"))
    mail = OutboundEmail(
        message_id="<ack-quit@mailroom.local>",
        from_addr="info@mailroom.local",
        to=("person@example.com",),
        subject="Re: Lunch on Friday",
        text="we received your message",
    )
    try:
        first = await sender.send(mail)  # QUIT's 421 does not fail the send
        again = await sender.send(mail)  # as a Temporal retry would
    finally:
        relay.stop()
    print(f"\nrelay failing at QUIT: relay received {dict(relay.received)}")
    assert (first.already_sent, again.already_sent) == (False, True)
    assert relay.received == {mail.message_id: 1}
