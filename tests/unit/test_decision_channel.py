"""The signed decision address: made for one approver of one request in one thread of one
mailbox, checked at ingest, and never handed on."""

from __future__ import annotations

from adapters.inbound.mime import parse_email
from tests.fakes import FakeThreadGateway, FakeThreadIndex
from use_cases.decision_channel import (
    DECISION_RULE,
    SignedDecision,
    decision_address,
    request_key,
    signed_decision,
)
from use_cases.ingest import ingest_email
from use_cases.threading import Threading, reply_address, workflow_id_for

MAILBOX = "procurement@mailroom.local"
THREAD = workflow_id_for(MAILBOX, "<rfq@corp.example>")
OTHER_THREAD = workflow_id_for(MAILBOX, "<rfq-2@corp.example>")
REQUEST = request_key("<rfq@corp.example>")
KEY = b"k" * 32
BOSS = "boss@corp.example"


def mail(sender: str, to: str, cc: str = "") -> bytes:
    return (
        f"From: {sender}\r\nTo: {to}\r\n{'Cc: ' + cc + chr(13) + chr(10) if cc else ''}"
        f"Subject: Re: Approval needed\r\nMessage-ID: <d-{abs(hash((sender, to)))}@corp.example>"
        "\r\n\r\napprove\r\n"
    ).encode()


def decided(sender: str, to: str, mailbox: str = MAILBOX, key: bytes = KEY) -> object:
    return signed_decision(parse_email(mail(sender, to)), mailbox, key)


def address(thread: str = THREAD, request: str = REQUEST, approver: str = BOSS) -> str:
    made = decision_address(thread, request, approver, KEY)
    assert made is not None
    return made


def test_the_address_names_its_request_for_its_approver_only() -> None:
    assert address().startswith("procurement+d")
    assert decided(BOSS, address()) == SignedDecision(THREAD, REQUEST)
    assert decided("BOSS@Corp.Example", address()) == SignedDecision(THREAD, REQUEST)
    assert decided("mallory@evil.example", address()) is None, "made for the boss, not her"
    assert decided("cfo@corp.example", address()) is None, "nor for another approver"


def test_an_address_is_bound_to_its_thread_request_and_mailbox() -> None:
    local, _, domain = address().partition("@")
    thread_hash = OTHER_THREAD.rpartition("-")[2]
    moved = f"procurement+d{thread_hash}{local[-20:]}@{domain}"  # another thread, same MAC
    assert decided(BOSS, moved) is None
    later = request_key("<a later request@corp.example>")
    relabelled = local[:-20] + later + local[-12:] + "@" + domain
    assert decided(BOSS, relabelled) is None, "a used address decides no later request"
    elsewhere = address().replace("procurement+", "support+")
    assert decided(BOSS, elsewhere, mailbox="support@mailroom.local") is None


def test_a_tampered_foreign_key_or_reply_token_address_names_nothing() -> None:
    local, _, domain = address().partition("@")
    tampered = f"{local[:-1]}{'0' if local[-1] != '0' else '1'}@{domain}"
    assert decided(BOSS, tampered) is None
    assert decided(BOSS, address(), key=b"other key") is None
    assert decided(BOSS, MAILBOX) is None
    token = reply_address(THREAD, KEY).split("+")[1].split("@")[0]  # t<hash><mac>
    assert decided(BOSS, f"procurement+d{token[1:]}@mailroom.local") is None
    assert decision_address(THREAD, REQUEST, BOSS, b"") is None, "no key: nothing is signed"


async def test_ingest_marks_a_signed_decision_and_hands_the_address_on_to_nobody() -> None:
    gateway = FakeThreadGateway()
    index = FakeThreadIndex()
    threading = Threading(index=index, secret=KEY)
    for sender, cc in ((BOSS, "bob@corp.example"), ("mallory@evil.example", "")):
        await ingest_email(
            mail(sender, address(), cc=cc),
            mailboxes=[MAILBOX],
            gateway=gateway,
            parse=parse_email,
            threading=threading,
        )
    (key, signed), (_, unsigned) = gateway.handed_off
    assert (key.rule, key.workflow_id) == (DECISION_RULE, THREAD)
    assert (signed.decided_by, signed.decision_request) == (BOSS, REQUEST)
    assert unsigned.decided_by == "", "the address was not made for her"
    assert signed.to == (MAILBOX,) and signed.cc == ("bob@corp.example",)
    recorded = [p for entry in index.threads.values() for p in entry.participants]
    assert not [p for p in recorded if "+d" in p], "the secret address stays out of the index"
