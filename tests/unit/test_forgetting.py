"""A person forgotten inside a shared thread's state (use_cases/forgetting.py): their mail
and address gone from every field, everyone else's kept, the models still valid."""

from __future__ import annotations

from datetime import UTC, datetime

from use_cases.flows import FlowProgress
from use_cases.forgetting import ERASED, Forgetting, forgotten
from use_cases.models import (
    DeliveryFailure,
    FlowConfig,
    FlowSnapshot,
    MessageSummary,
    NewMessage,
    StageChange,
    ThreadInput,
    ThreadState,
)
from use_cases.reply_cap import ReplyLog

NOW = datetime(2026, 12, 5, tzinfo=UTC)
ALICE, BOB = "alice@example.com", "bob@example.com"
HER_WORDS = "Please order twelve chairs for the meeting room"


def message(sender: str, text: str, *, cc: tuple[str, ...] = (), mid: str = "<1@e>") -> NewMessage:
    return NewMessage(
        mailbox="support@x",
        message_id=mid,
        from_addr=sender,
        from_name="Alice A." if sender == ALICE else "Bob",
        to=("support@x",),
        cc=cc,
        subject="Order of chairs" if sender == ALICE else "Re: Order of chairs",
        received_at=NOW,
        text=text,
        # what they wrote themselves, as ingest reads it (adapters/inbound/reply_text.py)
        new_text="\n".join(line for line in text.splitlines() if not line.startswith(">")),
        reply_target=sender,
    )


HERS = message(ALICE, f"{HER_WORDS}\nThanks", cc=(BOB,))
HIS = message(
    BOB, f"> {HER_WORDS}\nAgreed; ask ALICE@Example.com.\nThanks", cc=(ALICE,), mid="<2@e>"
)


def state() -> ThreadState:
    return ThreadState(
        thread_id="t",
        workflow_id="t",
        mailbox="support@x",
        subject="Order of chairs",
        participants=[ALICE, BOB],
        message_ids=["<1@e>", "<2@e>"],
        messages=[
            MessageSummary(
                message_id=m.message_id, from_addr=m.from_addr, subject=m.subject, received_at=NOW
            )
            for m in (HERS, HIS)
        ],
        message_count=2,
        requester=ALICE,
        answer_to=ALICE,
        history=[StageChange(stage="answered", at=NOW, note=f"mailed {ALICE}")],
        delivery_failures=[DeliveryFailure(message_id="<x>", recipients=(ALICE, BOB), at=NOW)],
    )


def test_her_mail_leaves_every_list_and_her_address_every_text() -> None:
    kept = forgotten(
        ThreadInput(thread_id="t", mailbox="support@x", state=state(), pending=(HERS, HIS)),
        [" Alice@EXAMPLE.com "],
    )
    assert kept.state is not None
    assert [m.from_addr for m in kept.state.messages] == [BOB]
    assert [m.from_addr for m in kept.pending] == [BOB]
    assert kept.state.participants == [BOB]
    assert kept.state.message_ids == ["<1@e>", "<2@e>"], "Message-IDs kept: duplicates still known"
    assert kept.state.message_count == 2
    assert kept.state.requester == ERASED and kept.state.subject == ERASED
    assert kept.state.answer_to == "", "nowhere to answer, not a placeholder for the relay"
    assert kept.state.history[0].note == f"mailed {ERASED}"
    assert kept.state.delivery_failures[0].recipients == (BOB,)
    his = kept.pending[0]
    assert his.cc == () and his.subject == "Re: Order of chairs"
    assert his.text == f"> {ERASED}\nAgreed; ask {ERASED}.\nThanks", "her quoted line and address"
    assert ALICE not in kept.model_dump_json().lower()
    assert HER_WORDS not in kept.model_dump_json()


def test_her_mail_a_flow_must_keep_is_kept_blank_and_answers_no_one() -> None:
    snapshot = FlowSnapshot(
        progress=FlowProgress(flow="support", stage="waiting_for_customer"),
        mails_sent=2,
        replies=ReplyLog(sent=[(ALICE, NOW), (BOB, NOW)]),
        first=HERS,
        last_message=HIS,
        pending=[HERS],
        own={"conversation": [f"{ALICE}:\n{HER_WORDS[:30]}", f"{BOB}:\nok, {HER_WORDS}"]},
    )
    kept = forgotten(snapshot, [ALICE])
    assert kept.first.message_id == HERS.message_id
    assert (kept.first.from_addr, kept.first.text, kept.first.subject) == (ERASED, "", ERASED)
    assert kept.first.reply_target == "" and kept.first.from_name == ""
    assert kept.pending == []
    assert kept.replies.sent == [(BOB, NOW)], "her cap entry goes whole, the log keeps its shape"
    assert kept.own["conversation"] == [f"{BOB}:\nok, {ERASED}"], "her entry goes whole"
    assert ALICE not in kept.model_dump_json()


def test_short_words_of_hers_are_not_cut_out_of_others_text() -> None:
    hers = message(ALICE, "Hi")
    his = message(BOB, "Hi there, all fine", mid="<2@e>")
    kept = forgotten(
        ThreadInput(
            thread_id="t",
            mailbox="x",
            pending=(his,),
            flow_resume=None,
            state=state().model_copy(update={"messages": []}),
        ),
        [ALICE],
    )
    assert kept.pending[0].text == "Hi there, all fine"
    assert Forgetting([ALICE]).model(hers).text == ""


def test_nobody_to_forget_changes_nothing() -> None:
    original = state()
    assert forgotten(original, []) is original
    assert forgotten(original, [BOB]).participants == [ALICE]


def test_the_blobs_of_her_mail_are_told_from_everyone_elses() -> None:
    from use_cases.forgetting import blobs_of_mail
    from use_cases.mail import Attachment, BlobRef

    shared_pdf = BlobRef(sha256="pdf", size=3)
    hers = HERS.model_copy(
        update={
            "raw_blob": BlobRef(sha256="her-raw", size=1),
            "attachments": (Attachment(filename="a.pdf", sha256="plain", blob=shared_pdf),),
        }
    )
    his = HIS.model_copy(
        update={
            "raw_blob": BlobRef(sha256="his-raw", size=1),
            "attachments": (Attachment(filename="a.pdf", blob=shared_pdf),),
        }
    )
    recorded = {"pending": [hers.model_dump(mode="json")], "last": his.model_dump(mode="json")}
    theirs, others = blobs_of_mail(recorded, Forgetting([ALICE]))
    assert theirs == {"her-raw", "pdf"} and others == {"his-raw", "pdf"}


def test_short_words_of_hers_equal_to_a_value_elsewhere_leave_it_valid() -> None:
    """Her subject "open" and text "human" are not the thread's status nor a mail's kind:
    blanking every equal value would fail validation and stop the thread for good."""
    hers = message(ALICE, "human").model_copy(update={"subject": "open"})
    thread = ThreadInput(
        thread_id="t",
        mailbox="support@x",
        state=state().model_copy(update={"subject": "open"}),
        pending=(hers, message(BOB, "human", mid="<2@e>")),
    )
    kept = forgotten(thread, [ALICE])
    assert kept.state is not None and kept.state.status.value == "open"
    assert kept.state.subject == ERASED, "a subject equal to hers is hers"
    assert [(m.from_addr, m.kind.value, m.text) for m in kept.pending] == [(BOB, "human", "human")]


def test_the_installations_settings_stay_when_a_colleague_is_erased() -> None:
    config = FlowConfig(approvers=(ALICE,), support_team=f"{ALICE}, {BOB}")
    kept = forgotten(ThreadInput(thread_id="t", mailbox="x", flow_config=config), [ALICE])
    assert kept.flow_config == config


def test_an_address_that_only_contains_hers_is_someone_else() -> None:
    joann, longer = "joann@example.com", "alice@example.com.evil.example"
    thread = state().model_copy(update={"participants": [ALICE, joann, longer], "answer_to": joann})
    snapshot = FlowSnapshot(
        progress=FlowProgress(flow="support", stage="waiting_for_customer"),
        mails_sent=1,
        replies=ReplyLog(sent=[(joann, NOW), (ALICE, NOW)]),
        first=message(joann, f"cc {ALICE}, {longer} and {joann}."),
        last_message=HIS,
    )
    kept_state, kept_snapshot = forgotten(thread, [ALICE]), forgotten(snapshot, [ALICE])
    assert kept_state.participants == [joann, longer] and kept_state.answer_to == joann
    assert kept_snapshot.replies.sent == [(joann, NOW)]
    assert kept_snapshot.first.text == f"cc {ERASED}, {longer} and {joann}."


def test_what_she_quoted_of_others_stays_theirs() -> None:
    """Her reply quotes Carol's line below her own: Carol's words stay in Carol's mail."""
    carol = "carol@example.com"
    carols_line = "The printer on floor two jams every morning"
    hers = message(ALICE, f"Mine too, every day since May.\n\n> {carols_line}").model_copy(
        update={"new_text": "Mine too, every day since May."}
    )
    carols = message(carol, carols_line, mid="<2@e>")
    kept = forgotten(ThreadInput(thread_id="t", mailbox="x", pending=(hers, carols)), [ALICE])
    assert [m.text for m in kept.pending] == [carols_line]


def test_her_blob_goes_only_where_no_one_else_sent_the_same_bytes() -> None:
    from use_cases.erasure import their_blobs_only

    theirs = {"shared-a": {"hers", "also-bobs"}, "shared-b": {"in-two-of-hers"}}
    holders = {
        "hers": {"shared-a"},
        "also-bobs": {"shared-a", "bobs-thread"},  # Bob sent the same file elsewhere
        "in-two-of-hers": {"shared-b", "alone-c"},
    }
    assert their_blobs_only(theirs, holders, alone={"alone-c"}) == ["hers", "in-two-of-hers"]
    # another thread shared with her holds it, but as someone else's mail there
    holders["hers"] = {"shared-a", "shared-b"}
    assert their_blobs_only(theirs, holders, alone=set()) == []


def test_her_address_however_a_text_writes_it() -> None:
    idn = "ann@xn--bcher-kva.example"
    forgetting = Forgetting([ALICE, idn])
    for written in (f"*{ALICE}*", f"'{ALICE}'", f"mailto:{ALICE}?subject=x", f"<{ALICE}>"):
        assert ALICE not in forgetting.text(written), written
    assert forgetting.text("write to ann@bücher.example.") == f"write to {ERASED}."
    assert forgetting.names_anywhere({"history": [{"note": f"Hi\n{ALICE}"}]})
    assert not forgetting.names_anywhere({"config": {"approvers": [ALICE]}}), "settings stay"


def test_a_forward_of_hers_without_a_word_of_her_own_erases_nobodys_words() -> None:
    carols_line = "The printer on floor two jams every morning"
    forward = message(ALICE, f"---------- Forwarded message ----------\n{carols_line}")
    forward = forward.model_copy(update={"new_text": ""})
    carols = message("carol@example.com", carols_line, mid="<2@e>")
    kept = forgotten(ThreadInput(thread_id="t", mailbox="x", pending=(forward, carols)), [ALICE])
    assert [m.text for m in kept.pending] == [carols_line]
