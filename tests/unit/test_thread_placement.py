"""Which thread each message lands in, through the ingest use case with our fakes: the
reply styles of common clients, the signed reply token, bounces, the subject fallback and
its traps; and the claim-check that keeps big mail out of the signal."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.inbound.mime import parse_email
from adapters.outbound.thread_index import SqliteThreadIndex
from tests.fakes import FakeBlobStore, FakeThreadGateway, FakeThreadIndex
from use_cases.claim_check import PayloadTooLarge, payload_size
from use_cases.ingest import ingest_email
from use_cases.mail import MessageKind
from use_cases.mailboxes import Mailboxes
from use_cases.models import NewMessage
from use_cases.replies import reply_message_id
from use_cases.threading import Threading, reply_address, subject_key, thread_of_token

SUPPORT = "support@mailroom.local"
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
SECRET = b"test-secret"


class Desk:
    """One mailbox's ingest with an in-memory thread index and blob store."""

    def __init__(self) -> None:
        self.gateway = FakeThreadGateway()
        self.blobs = FakeBlobStore()
        self.threading = Threading(
            index=FakeThreadIndex(), secret=SECRET, mailboxes=Mailboxes(["mailroom.local"])
        )

    async def receive(self, headers: str, body: str = "hello", *, at: datetime = NOW) -> NewMessage:
        raw = (headers.strip().replace("\n", "\r\n") + "\r\n\r\n" + body).encode()
        await ingest_email(
            raw,
            mailboxes=[SUPPORT],
            gateway=self.gateway,
            parse=parse_email,
            received_at=at,
            blobs=self.blobs,
            threading=self.threading,
        )
        return self.gateway.handed_off[-1][1]

    def thread_of(self, message_id: str) -> str:
        return next(k.workflow_id for k, m in self.gateway.handed_off if m.message_id == message_id)

    def rule_of(self, message_id: str) -> str:
        return next(k.rule for k, m in self.gateway.handed_off if m.message_id == message_id)


@pytest.fixture
def desk() -> Desk:
    return Desk()


QUESTION = f"""From: Alice <alice@example.com>
To: {SUPPORT}
Subject: Printer on fire
Message-ID: <q1@example.com>
Thread-Index: AQHZ1234567890abcdefghijklmnopqrstuv"""


async def test_outlook_reply_without_references_joins_by_in_reply_to_of_our_ack(
    desk: Desk,
) -> None:
    await desk.receive(QUESTION)
    ack = reply_message_id("ack", "<q1@example.com>", SUPPORT)
    await desk.receive(
        f"From: alice@example.com\nTo: {SUPPORT}\nSubject: RE: Printer on fire\n"
        f"Message-ID: <o2@example.com>\nIn-Reply-To: {ack}\n"
        "Thread-Index: AQHZ1234567890abcdefghijklmnopqrstuvAAAAAA=="
    )
    assert desk.thread_of("<o2@example.com>") == desk.thread_of("<q1@example.com>")
    assert desk.rule_of("<o2@example.com>") == "index"


async def test_outlook_reply_with_only_thread_index_joins_the_conversation(desk: Desk) -> None:
    await desk.receive(QUESTION)
    await desk.receive(
        f"From: bob@example.com\nTo: {SUPPORT}\nSubject: AW: Printer on fire\n"
        "Message-ID: <o3@example.com>\nThread-Index: AQHZ1234567890abcdefghijklmnopqrstuvBBBB"
    )
    assert desk.thread_of("<o3@example.com>") == desk.thread_of("<q1@example.com>")


async def test_gmail_thunderbird_and_apple_replies_join_by_references(desk: Desk) -> None:
    await desk.receive(QUESTION)
    first = desk.thread_of("<q1@example.com>")
    await desk.receive(  # Gmail: References root + In-Reply-To
        f"From: alice@example.com\nTo: {SUPPORT}\nSubject: Re: Printer on fire\n"
        "Message-ID: <g2@mail.gmail.com>\nIn-Reply-To: <q1@example.com>\n"
        "References: <q1@example.com>"
    )
    await desk.receive(  # Thunderbird replying to the Gmail reply, a second participant
        f"From: carol@example.org\nTo: {SUPPORT}, alice@example.com\nSubject: Re: Printer on fire\n"
        "Message-ID: <t3@example.org>\nIn-Reply-To: <g2@mail.gmail.com>\n"
        "References: <q1@example.com> <g2@mail.gmail.com>"
    )
    await desk.receive(  # Apple Mail with a trimmed References chain
        f"From: alice@example.com\nTo: {SUPPORT}\nSubject: Re: Printer on fire\n"
        "Message-ID: <a4@icloud.com>\nReferences: <t3@example.org>"
    )
    for message_id in ("<g2@mail.gmail.com>", "<t3@example.org>", "<a4@icloud.com>"):
        assert desk.thread_of(message_id) == first


async def test_reply_without_any_headers_joins_thread_by_signed_token(desk: Desk) -> None:
    await desk.receive(QUESTION)
    thread = desk.thread_of("<q1@example.com>")
    address = desk.gateway.handed_off[0][1].reply_address
    assert address.startswith("support+t") and address.endswith("@mailroom.local")
    await desk.receive(f"From: alice@example.com\nTo: {address}\nSubject: hi\nMessage-ID: <t@x>")
    assert (desk.thread_of("<t@x>"), desk.rule_of("<t@x>")) == (thread, "reply-token")


async def test_a_forged_token_does_not_thread(desk: Desk) -> None:
    await desk.receive(QUESTION)
    thread = desk.thread_of("<q1@example.com>")
    forged = reply_address(thread, b"someone-elses-key")
    await desk.receive(f"From: eve@example.com\nTo: {forged}\nSubject: hi\nMessage-ID: <f@x>")
    assert desk.thread_of("<f@x>") != thread
    assert thread_of_token(forged.split("+")[1].split("@")[0], SUPPORT, SECRET) is None


async def test_forwarded_mail_starts_its_own_thread(desk: Desk) -> None:
    await desk.receive(QUESTION)
    await desk.receive(
        f"From: alice@example.com\nTo: {SUPPORT}\nSubject: Fwd: Printer on fire\n"
        "Message-ID: <fw@example.com>",
        "FYI\n\n---------- Forwarded message ---------\nFrom: x@y\n",
    )
    assert desk.thread_of("<fw@example.com>") == desk.thread_of("<q1@example.com>")
    assert desk.rule_of("<fw@example.com>") == "subject"  # same person, same topic, in window


async def test_subject_fallback_needs_a_shared_participant_and_the_window(desk: Desk) -> None:
    await desk.receive(QUESTION)
    thread = desk.thread_of("<q1@example.com>")
    # zammad#5064: someone else's mail whose subject carries the same words and a tag
    await desk.receive(
        f"From: mallory@other.example\nTo: {SUPPORT}\nSubject: Re: [Ticket#77] Printer on fire\n"
        "Message-ID: <trap@other.example>"
    )
    late = NOW + timedelta(days=15)
    await desk.receive(
        f"From: alice@example.com\nTo: {SUPPORT}\nSubject: Re: Printer on fire\nMessage-ID: <l@x>",
        at=late,
    )
    assert desk.thread_of("<trap@other.example>") != thread
    assert desk.thread_of("<l@x>") != thread
    assert subject_key("RE: AW: [Ticket#77] Fwd:  Printer on fire") == "printer on fire"


async def test_subject_fallback_never_joins_a_completed_thread(desk: Desk) -> None:
    await desk.receive(QUESTION)
    thread = desk.thread_of("<q1@example.com>")
    desk.gateway.closed.add(thread)
    await desk.receive(
        f"From: alice@example.com\nTo: {SUPPORT}\nSubject: Re: Printer on fire\n"
        "Message-ID: <after-close@example.com>"
    )
    assert desk.thread_of("<after-close@example.com>") != thread
    assert desk.rule_of("<after-close@example.com>") == "new-thread"


async def test_a_bounce_of_our_ack_lands_in_the_thread_with_its_status(desk: Desk) -> None:
    await desk.receive(QUESTION)
    ack = reply_message_id("ack", "<q1@example.com>", SUPPORT)
    bounce = await desk.receive(
        f"From: MAILER-DAEMON@mx.example.com\nTo: {SUPPORT}\nSubject: Undelivered Mail Returned"
        " to Sender\nMessage-ID: <b1@mx.example.com>\nReturn-Path: <>",
        f"550 5.1.1 <alice@example.com>: Recipient address rejected\n\n"
        f"Message-ID: {ack}\nSubject: Re: Printer on fire\n",
    )
    assert bounce.kind is MessageKind.BOUNCE and bounce.automatic
    assert bounce.report is not None and bounce.report.status == "5.1.1"
    assert desk.thread_of("<b1@mx.example.com>") == desk.thread_of("<q1@example.com>")
    assert desk.rule_of("<b1@mx.example.com>") == "bounce"


async def test_a_message_referencing_two_threads_goes_to_the_most_recent(desk: Desk) -> None:
    await desk.receive(QUESTION)
    await desk.receive(
        f"From: bob@example.com\nTo: {SUPPORT}\nSubject: Toner\nMessage-ID: <toner@example.com>"
    )
    await desk.receive(
        f"From: bob@example.com\nTo: {SUPPORT}\nSubject: Re: both\nMessage-ID: <both@x>\n"
        "References: <q1@example.com> <toner@example.com>"
    )
    assert desk.thread_of("<both@x>") == desk.thread_of("<toner@example.com>")


async def test_a_reference_cycle_and_5000_references_are_harmless(desk: Desk) -> None:
    refs = " ".join(f"<r{n}@x>" for n in range(5_000))
    message = await desk.receive(
        f"From: a@b.example\nTo: {SUPPORT}\nMessage-ID: <self@x>\nIn-Reply-To: <self@x>\n"
        f"References: <self@x> {refs}"
    )
    assert "<self@x>" not in message.references and message.in_reply_to is None
    assert len(message.references) == 100 and message.references[-1] == "<r4999@x>"


async def test_big_text_and_attachments_go_to_the_blob_store_not_the_signal(desk: Desk) -> None:
    pdf = b"%PDF-1.4 " + bytes(range(256)) * 4_000
    body = "x" * 100_000
    raw = (
        (
            f"From: a@b.example\r\nTo: {SUPPORT}\r\nMessage-ID: <big@x>\r\n"
            "Content-Type: multipart/mixed; boundary=BB\r\n\r\n--BB\r\n"
            f"Content-Type: text/plain\r\n\r\n{body}\r\n--BB\r\nContent-Type: application/pdf\r\n"
            'Content-Disposition: attachment; filename="q.pdf"\r\n'
            "Content-Transfer-Encoding: base64\r\n\r\n"
        ).encode()
        + base64.encodebytes(pdf)
        + b"\r\n--BB--\r\n"
    )
    await ingest_email(
        raw,
        mailboxes=[SUPPORT],
        gateway=desk.gateway,
        parse=parse_email,
        blobs=desk.blobs,
        threading=desk.threading,
    )
    message = desk.gateway.handed_off[-1][1]
    assert payload_size(message) < 32 * 1024
    assert message.text_truncated and message.text_blob is not None
    assert (await desk.blobs.get(message.text_blob.sha256)).decode().strip() == body
    (attachment,) = message.attachments
    assert attachment.filename == "q.pdf" and attachment.size == len(pdf)
    assert attachment.blob is not None and await desk.blobs.get(attachment.blob.sha256) == pdf
    assert await desk.blobs.raw("<big@x>") == raw


async def test_without_a_blob_store_an_oversized_signal_is_refused_clearly() -> None:
    # 4 bytes of JSON a character, in the text and the new text; and 100 long References
    clips = "\U0001f4ce" * 40_000
    references = " ".join(f"<{n}{'r' * 400}@x>" for n in range(100))
    head = f"From: a@b.example\r\nMessage-ID: <huge@x>\r\nReferences: {references}\r\n\r\n"
    raw = (head + clips).encode()
    with pytest.raises(PayloadTooLarge, match="over the 256 KB limit"):
        await ingest_email(raw, mailboxes=[SUPPORT], gateway=FakeThreadGateway(), parse=parse_email)


@pytest.mark.parametrize("subject", ["[ANN] Printer on fire", "[PATCH] Printer on fire"])
async def test_a_tag_alone_is_not_a_reply_marker(desk: Desk, subject: str) -> None:
    await desk.receive(QUESTION)
    await desk.receive(
        f"From: alice@example.com\nTo: {SUPPORT}\nSubject: {subject}\nMessage-ID: <tag@x>"
    )
    assert desk.rule_of("<tag@x>") == "new-thread", "a new mail labelled by a list or tracker"


async def test_a_tagged_reply_still_joins_by_subject(desk: Desk) -> None:
    await desk.receive(QUESTION)
    await desk.receive(
        f"From: alice@example.com\nTo: {SUPPORT}\nSubject: [Ticket #1] Re: Printer on fire\n"
        "Message-ID: <tagged-reply@x>"
    )
    assert desk.thread_of("<tagged-reply@x>") == desk.thread_of("<q1@example.com>")


async def test_a_reply_to_our_subject_joins_by_subject_with_our_ticket_tag(desk: Desk) -> None:
    """The subjects we send end in the thread's `[#REF]`: a reply that keeps only the
    subject is placed by it (not by the reference alone: this index never learnt it)."""
    await desk.receive(QUESTION)
    thread = desk.thread_of("<q1@example.com>")
    await desk.receive(
        f"From: alice@example.com\nTo: {SUPPORT}\nSubject: Re: Printer on fire [#ZZZZZZ]\n"
        "Message-ID: <our-tag@x>"
    )
    assert desk.thread_of("<our-tag@x>") == thread
    assert subject_key("Re: Printer on fire [#k7q2mx]") == "printer on fire"


@pytest.mark.parametrize(
    "marker",
    ["List-Id: <printers.lists.example.com>", "Precedence: bulk", "List-Unsubscribe: <mailto:u@x>"],
)
async def test_list_and_bulk_mail_never_joins_by_subject(desk: Desk, marker: str) -> None:
    await desk.receive(QUESTION)
    await desk.receive(
        f"From: alice@example.com\nTo: {SUPPORT}\nSubject: Re: Printer on fire\n{marker}\n"
        "Message-ID: <list@x>"
    )
    assert desk.rule_of("<list@x>") == "new-thread"


async def test_our_own_addresses_are_not_a_shared_participant(desk: Desk) -> None:
    await desk.receive(
        f"From: alice@example.com\nTo: {SUPPORT}\nCc: sales@mailroom.local\n"
        "Subject: Printer on fire\nMessage-ID: <q1@example.com>"
    )
    await desk.receive(
        f"From: mallory@other.example\nTo: {SUPPORT}\nCc: sales@mailroom.local\n"
        "Subject: Re: Printer on fire\nMessage-ID: <ours@x>"
    )
    await desk.receive(
        f"From: alice@example.com\nTo: {SUPPORT}\nCc: sales@mailroom.local\n"
        "Subject: Re: Printer on fire\nMessage-ID: <alice-again@x>"
    )
    assert desk.thread_of("<ours@x>") != desk.thread_of("<q1@example.com>")
    assert desk.thread_of("<alice-again@x>") == desk.thread_of("<q1@example.com>")


@pytest.mark.parametrize("durable", [False, True], ids=["fake-index", "sqlite-index"])
async def test_two_replies_to_a_root_we_never_saw_find_each_other(
    desk: Desk, durable: bool, tmp_path: Path
) -> None:
    """JWZ's missing parent (dev@maven, Dec 2017): a webmail reply to <p@x> kept References
    `<r@x> <p@x>`; a reply to the same <p@x> from a client that trims References to its parent
    names <p@x> alone. Neither <r@x> nor <p@x> was sent to us."""
    if durable:
        index = SqliteThreadIndex(tmp_path / "threads.sqlite")
        desk.threading = Threading(index=index, secret=SECRET)
    await desk.receive(
        f"From: karl@example.org\nTo: dev@lists.example.org\nCc: {SUPPORT}\n"
        "Subject: Re: Git migration\nMessage-ID: <b@x>\nIn-Reply-To: <p@x>\n"
        "References: <r@x> <p@x>"
    )
    await desk.receive(
        f"From: robert@example.net\nTo: dev@lists.example.org\nCc: {SUPPORT}\n"
        "Subject: Re: Git migration\nMessage-ID: <c@x>\nIn-Reply-To: <p@x>\nReferences: <p@x>"
    )
    assert desk.thread_of("<c@x>") == desk.thread_of("<b@x>")
    assert desk.rule_of("<c@x>") == "reference"
    if durable:
        await index.close()


async def test_a_mention_never_takes_replies_away_from_the_message_it_names(desk: Desk) -> None:
    # Mallory names the id Alice's next mail will have, before it arrives.
    await desk.receive(
        f"From: mallory@other.example\nTo: {SUPPORT}\nSubject: Re: hi\nMessage-ID: <m@evil>\n"
        "References: <m-root@evil> <q2@example.com>"
    )
    await desk.receive(
        f"From: alice@example.com\nTo: {SUPPORT}\nSubject: Toner\nMessage-ID: <q2@example.com>"
    )
    await desk.receive(
        f"From: bob@example.com\nTo: {SUPPORT}\nSubject: Re: Toner\nMessage-ID: <r2@example.com>\n"
        "In-Reply-To: <q2@example.com>"
    )
    alice = desk.thread_of("<q2@example.com>")
    assert desk.thread_of("<r2@example.com>") == alice != desk.thread_of("<m@evil>")
    assert desk.rule_of("<r2@example.com>") == "index"


async def test_an_id_we_have_outranks_a_mention_and_a_mention_is_never_re_pointed(
    desk: Desk,
) -> None:
    await desk.receive(QUESTION)
    await desk.receive(  # the first to mention <p@x>
        f"From: bob@example.com\nTo: {SUPPORT}\nSubject: Re: x\nMessage-ID: <b@x>\n"
        "References: <a@x> <p@x>"
    )
    await desk.receive(  # <p@x> is more recent, but <q1@example.com> is a message we have
        f"From: alice@example.com\nTo: {SUPPORT}\nSubject: Re: Printer on fire\n"
        "Message-ID: <e@x>\nReferences: <q1@example.com> <p@x>"
    )
    await desk.receive(
        f"From: carol@example.org\nTo: {SUPPORT}\nSubject: Re: x\nMessage-ID: <f@x>\n"
        "In-Reply-To: <p@x>"
    )
    assert desk.thread_of("<e@x>") == desk.thread_of("<q1@example.com>")
    assert desk.thread_of("<f@x>") == desk.thread_of("<b@x>") != desk.thread_of("<e@x>")


async def test_a_colleague_at_our_domain_is_a_shared_participant_when_not_a_mailbox() -> None:
    """With an explicit list of mailboxes, other addresses at the domain are people."""
    desk = Desk()
    desk.threading = Threading(
        index=FakeThreadIndex(),
        secret=SECRET,
        mailboxes=Mailboxes(["mailroom.local"], ["support@mailroom.local"]),
    )
    await desk.receive(
        f"From: carol@mailroom.local\nTo: {SUPPORT}\nSubject: Printer on fire\nMessage-ID: <c1@x>"
    )
    await desk.receive(
        f"From: dave@example.com\nTo: {SUPPORT}\nCc: carol@mailroom.local\n"
        "Subject: Re: Printer on fire\nMessage-ID: <c2@x>"
    )
    assert desk.thread_of("<c2@x>") == desk.thread_of("<c1@x>")
