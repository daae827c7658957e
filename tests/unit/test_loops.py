"""A message that has gone round more than 50 MTAs is taken and never answered."""

from __future__ import annotations

import pytest

from adapters.inbound.mime import parse_email
from tests.fakes import FakeThreadGateway
from use_cases.ingest import ingest_email
from use_cases.loops import MAX_HOPS, received_hops


def looped(hops: int, quoted: int = 0) -> bytes:
    trace = "".join(f"Received: from mx{n}.example by mx{n + 1}.example\r\n" for n in range(hops))
    body = "".join(f"Received: from quoted{n}.example\r\n" for n in range(quoted))
    return (
        f"{trace}From: bot@responder.example\r\nTo: support@mailroom.local\r\n"
        f"Subject: Re: hello\r\nMessage-ID: <loop-{hops}@x>\r\n\r\nThanks!\r\n{body}"
    ).encode()


@pytest.mark.parametrize(
    ("hops", "silenced"), [(0, False), (MAX_HOPS, False), (MAX_HOPS + 1, True)]
)
async def test_more_than_fifty_hops_is_a_loop_never_answered(hops: int, silenced: bool) -> None:
    gateway = FakeThreadGateway()
    await ingest_email(
        looped(hops), mailboxes=["support@mailroom.local"], gateway=gateway, parse=parse_email
    )
    message = gateway.handed_off[0][1]
    assert (message.automatic is not None and "mail loop" in message.automatic) is silenced


def test_only_the_header_block_counts() -> None:
    assert received_hops(looped(3, quoted=80)) == 3
    assert received_hops(looped(3).replace(b"\r\n", b"\n")) == 3
