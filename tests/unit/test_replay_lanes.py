"""Replay lanes: related mail shares a lane (so it keeps file order); the rest spreads."""

from __future__ import annotations

from use_cases.mail import InboundEmail
from use_cases.replay_lanes import ConversationLanes


def mail(message_id: str, subject: str = "", **headers: object) -> InboundEmail:
    return InboundEmail(message_id=message_id, subject=subject, **headers)


def test_unrelated_mail_spreads_round_robin() -> None:
    lanes = ConversationLanes(3)
    assigned = [lanes.assign(mail(f"<m{n}@x>", f"topic {n}")) for n in range(6)]
    assert assigned == [0, 1, 2, 0, 1, 2]


def test_a_reply_follows_its_parent_by_any_clue() -> None:
    lanes = ConversationLanes(4)
    root = lanes.assign(mail("<root@x>", "Printer on fire"))
    lanes.assign(mail("<other@x>", "Invoice"))
    assert lanes.assign(mail("<r1@x>", "Re: something else", in_reply_to="<root@x>")) == root
    assert lanes.assign(mail("<r2@x>", "RE: AW: Printer on fire")) == root  # subject only
    # r3 names only r1: still the root's lane, because r1 was given it.
    assert lanes.assign(mail("<r3@x>", "new subject", references=("<r1@x>",))) == root
    token = ("support+t0123456789abcdef0123456789ab@mailroom.local",)
    first = lanes.assign(mail("<t1@x>", "one", to=token))
    assert lanes.assign(mail("<t2@x>", "two", to=token)) == first
