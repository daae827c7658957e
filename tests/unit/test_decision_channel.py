"""The signed decision address: made for one approver of one thread, checked at ingest."""

from __future__ import annotations

from adapters.inbound.mime import parse_email
from tests.fakes import FakeThreadGateway, FakeThreadIndex
from use_cases.decision_channel import DECISION_RULE, decided_thread, decision_address
from use_cases.ingest import ingest_email
from use_cases.threading import Threading, workflow_id_for

MAILBOX = "procurement@mailroom.local"
THREAD = workflow_id_for(MAILBOX, "<rfq@corp.example>")
KEY = b"k" * 32
BOSS = "boss@corp.example"


def mail(sender: str, to: str, body: str = "approve") -> bytes:
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: Re: Approval needed\r\n"
        f"Message-ID: <d-{abs(hash((sender, to)))}@corp.example>\r\n\r\n{body}\r\n"
    ).encode()


def test_the_address_names_the_thread_for_its_approver_only() -> None:
    address = decision_address(THREAD, BOSS, KEY)
    assert address is not None and address.startswith("procurement+d")
    assert decided_thread(parse_email(mail(BOSS, address)), MAILBOX, KEY) == THREAD
    assert decided_thread(parse_email(mail("BOSS@Corp.Example", address)), MAILBOX, KEY) == THREAD
    forwarded = parse_email(mail("mallory@evil.example", address))
    assert decided_thread(forwarded, MAILBOX, KEY) is None, "made for the boss, not for her"


def test_a_tampered_or_foreign_key_address_names_nothing() -> None:
    address = decision_address(THREAD, BOSS, KEY) or ""
    local, _, domain = address.partition("@")
    tampered = f"{local[:-1]}{'0' if local[-1] != '0' else '1'}@{domain}"
    assert decided_thread(parse_email(mail(BOSS, tampered)), MAILBOX, KEY) is None
    assert decided_thread(parse_email(mail(BOSS, address)), MAILBOX, b"other key") is None
    assert decided_thread(parse_email(mail(BOSS, MAILBOX)), MAILBOX, KEY) is None
    assert decision_address(THREAD, BOSS, b"") is None, "no key: nothing can be signed"


async def test_ingest_marks_a_signed_decision_and_places_it_in_its_thread() -> None:
    gateway = FakeThreadGateway()
    threading = Threading(index=FakeThreadIndex(), secret=KEY)
    address = decision_address(THREAD, BOSS, KEY) or ""
    for sender in (BOSS, "mallory@evil.example"):
        await ingest_email(
            mail(sender, address),
            mailboxes=[MAILBOX],
            gateway=gateway,
            parse=parse_email,
            threading=threading,
        )
    (key, signed), (_, unsigned) = gateway.handed_off
    assert (key.rule, key.workflow_id, signed.decided_by) == (DECISION_RULE, THREAD, BOSS)
    assert unsigned.decided_by == "", "the address was not made for her"
