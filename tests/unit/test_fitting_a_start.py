"""What goes with a flow's start (history format 4): the queued mail, in order, while it
fits WITH_START_BYTES; the rest is forwarded after the start."""

from __future__ import annotations

from datetime import UTC, datetime

from use_cases.forwarding import WITH_START_BYTES, fitting_a_start
from use_cases.models import NewMessage


def mail(n: int, chars: int) -> NewMessage:
    return NewMessage(
        mailbox="support@mailroom.local",
        message_id=f"<m{n}@example.com>",
        from_addr="alice@example.com",
        subject="Login",
        text="x" * chars,
        received_at=datetime(2026, 12, 6, tzinfo=UTC),
    )


# what a mail's measure holds beside its text's characters
BESIDE_TEXT = len(mail(1, 1).model_dump_json(exclude_defaults=True)) - 1


def test_small_mail_all_goes_with_the_start() -> None:
    queued = [mail(n, 100) for n in range(20)]
    assert fitting_a_start(queued) == queued


def test_mail_past_the_budget_is_left_in_order_even_if_a_later_one_would_fit() -> None:
    large, small = mail(1, WITH_START_BYTES // 2), mail(3, 10)
    queued = [large, mail(2, WITH_START_BYTES // 2), small]
    assert fitting_a_start(queued) == [large]  # the rest keeps its order, forwarded after


def test_a_mail_alone_larger_than_the_budget_goes_after_the_start() -> None:
    assert fitting_a_start([mail(1, WITH_START_BYTES + 1)]) == []
    assert fitting_a_start([]) == []


def test_a_burst_exactly_at_the_budget_fits_and_a_byte_more_does_not() -> None:
    exact = mail(1, WITH_START_BYTES - BESIDE_TEXT)
    assert fitting_a_start([exact]) == [exact]
    assert fitting_a_start([mail(1, WITH_START_BYTES - BESIDE_TEXT + 1)]) == []


def test_fields_left_at_their_defaults_are_not_counted() -> None:
    """A field added to NewMessage later, with its default, splits a recorded burst on
    replay as it was split when it ran (the split decides commands: history format 4)."""
    near = mail(1, WITH_START_BYTES - BESIDE_TEXT)
    assert len(near.model_dump_json()) > WITH_START_BYTES  # defaults would have counted
    assert fitting_a_start([near]) == [near]
