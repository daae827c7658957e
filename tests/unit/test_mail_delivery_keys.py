"""A child flow knows a mail it took by its Message-ID and content (use_cases/forwarding.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from orchestrator.data_converter import DATA_CONVERTER
from use_cases.forwarding import (
    REMEMBERED_DELIVERIES,
    ForwardedMail,
    delivery_key,
    remember_delivery,
)
from use_cases.models import NewMessage

AT = datetime(2026, 12, 5, tzinfo=UTC)


def mail(message_id: str, digest: str, text: str = "hello") -> NewMessage:
    return NewMessage(
        mailbox="orders@mailroom.local",
        message_id=message_id,
        received_at=AT,
        text=text,
        content_digest=digest,
    )


def test_the_same_mail_delivered_again_has_the_same_key() -> None:
    # a redelivery may be trimmed differently (carried text): the key is not the text
    assert delivery_key(mail("<a@x>", "d1")) == delivery_key(mail("<a@x>", "d1", text="hel"))


def test_a_message_id_reused_by_other_content_is_another_mail() -> None:
    assert delivery_key(mail("<a@x>", "d1")) != delivery_key(mail("<a@x>", "d2"))
    assert delivery_key(mail("<a@x>", "d1")) != delivery_key(mail("<b@x>", "d1"))


def test_keys_stay_short_however_long_the_message_id() -> None:
    assert len(delivery_key(mail("<" + "a" * 900 + "@x>", "d"))) == 24


def test_a_child_remembers_the_latest_mail_it_took() -> None:
    taken: list[str] = []
    for n in range(REMEMBERED_DELIVERIES + 10):
        taken = remember_delivery(taken, f"k{n}")
    assert len(taken) == REMEMBERED_DELIVERIES and taken[-1] == f"k{REMEMBERED_DELIVERIES + 9}"
    assert "k0" not in taken


async def test_forwarded_mail_reaches_the_child_as_the_signal_command_sent_it() -> None:
    messages = [mail("<a@x>", "d1"), mail("<b@x>", "d2")]
    by_activity = await DATA_CONVERTER.encode([ForwardedMail(messages)])
    by_command = await DATA_CONVERTER.encode([messages])
    assert by_activity == by_command
    decoded = await DATA_CONVERTER.decode(by_activity, [list[NewMessage]])
    assert decoded == [messages]
