"""`mailroom threads`: what each line shows, which threads are kept, in which order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orchestrator.cli_errors import CliError
from orchestrator.cli_reply import handed_over
from orchestrator.cli_threads import refuse_completed, thread_lines
from orchestrator.thread_table import (
    ThreadFilter,
    ThreadView,
    columns,
    listed,
    stage_hint,
    table,
)
from use_cases.models import HumanReply, MessageSummary, StageChange, ThreadState, ThreadStatus
from use_cases.tickets import ticket_reference

NOON = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def thread(
    name: str,
    *,
    received: datetime = NOON,
    sender: str = "alice@example.com",
    subject: str = "Printer on fire",
    flow: str | None = "support",
    stage: str | None = "waiting_for_customer",
    status: ThreadStatus = ThreadStatus.OPEN,
    mailbox: str = "support@mailroom.local",
    **recorded: object,
) -> ThreadState:
    thread_id = f"thread-{mailbox}-{name:0>16}"
    message = MessageSummary(
        message_id=f"<{name}@example.com>", from_addr=sender, subject=subject, received_at=received
    )
    return ThreadState.model_validate(
        {
            "thread_id": thread_id,
            "workflow_id": thread_id,
            "mailbox": mailbox,
            "status": status,
            "subject": subject,
            "participants": [sender, "bob@example.com"],
            "messages": [message],
            "message_count": 1,
            "flow": flow,
            "stage": stage,
            **recorded,
        }
    )


def views(*states: ThreadState) -> list[ThreadView]:
    return [ThreadView.of(s) for s in states]


def test_a_thread_recorded_without_people_fields_gets_them_worked_out() -> None:
    state = thread("a1", received=NOON)
    state.history.append(StageChange(stage="answered", at=NOON + timedelta(minutes=5)))
    view = ThreadView.of(state)
    assert view.reference == ticket_reference(state.thread_id)
    assert view.requester == "alice@example.com"
    assert view.last_activity == NOON + timedelta(minutes=5)


def test_the_recorded_people_fields_are_used_when_present() -> None:
    later = NOON + timedelta(hours=3)
    state = thread("a2", reference="K7Q2MX", requester="carol@corp.example", last_activity=later)
    view = ThreadView.of(state)
    assert (view.reference, view.requester, view.last_activity) == (
        "K7Q2MX",
        "carol@corp.example",
        later,
    )


def test_a_thread_without_messages_takes_its_first_participant_as_requester() -> None:
    state = thread("a3").model_copy(update={"messages": []})
    assert ThreadView.of(state).requester == "alice@example.com"
    assert ThreadView.of(state).last_activity is None


def test_the_json_view_keeps_the_old_keys_and_gains_the_new_ones() -> None:
    shown = ThreadView.of(thread("a4")).public()
    assert set(shown) >= {"thread_id", "workflow_id", "mailbox", "status", "subject", "flow"}
    assert {"reference", "requester", "last_activity", "human_replies"} <= set(shown)
    assert shown["agent_tokens"] == 0


def test_threads_are_listed_most_recently_active_first() -> None:
    old = thread("b1", received=NOON - timedelta(days=2))
    new = thread("b2", received=NOON)
    middle = thread("b3", received=NOON - timedelta(hours=1))
    never = thread("b4").model_copy(update={"messages": []})
    ordered = listed(views(old, never, new, middle), ThreadFilter())
    assert [v.thread_id for v in ordered] == [
        new.thread_id,
        middle.thread_id,
        old.thread_id,
        never.thread_id,
    ]


def test_filters_keep_only_the_threads_asked_for() -> None:
    support = thread("c1")
    purchase = thread(
        "c2",
        flow="procurement",
        stage="awaiting_approval",
        mailbox="procurement@mailroom.local",
        sender="bob@corp.example",
        subject="20 laptops",
    )
    done = thread("c3", status=ThreadStatus.COMPLETED, stage="resolved")
    every = views(support, purchase, done)

    def kept(keep: ThreadFilter) -> set[str]:
        return {v.thread_id for v in listed(every, keep)}

    assert kept(ThreadFilter(status=ThreadStatus.OPEN)) == {support.thread_id, purchase.thread_id}
    assert kept(ThreadFilter(stage="Awaiting_Approval")) == {purchase.thread_id}
    assert kept(ThreadFilter(flow="support")) == {support.thread_id, done.thread_id}
    assert kept(ThreadFilter(mailbox="PROCUREMENT@mailroom.local")) == {purchase.thread_id}
    assert kept(ThreadFilter(flow="support", status=ThreadStatus.COMPLETED)) == {done.thread_id}


def test_search_looks_in_subject_requester_people_reference_and_id_in_any_case() -> None:
    purchase = thread("d1", subject="20 Laptops", sender="bob@corp.example")
    other = thread("d2")
    every = views(purchase, other)

    def found(text: str) -> list[str]:
        return [v.thread_id for v in listed(every, ThreadFilter(search=text))]

    assert found("laptops") == [purchase.thread_id]
    assert found("BOB@corp") == [purchase.thread_id]
    assert found(ticket_reference(other.thread_id).lower()) == [other.thread_id]
    assert found("0d2") == [other.thread_id]
    assert sorted(found("bob@example.com")) == sorted([purchase.thread_id, other.thread_id])
    assert found("nothing like it") == []


def test_search_finds_a_reference_written_with_its_hash_or_brackets() -> None:
    wanted, other = thread("d3"), thread("d4")
    reference = ticket_reference(wanted.thread_id)
    for written in (reference, f"#{reference}", f"[#{reference}]", f"#{reference.lower()}"):
        kept = listed(views(wanted, other), ThreadFilter(search=written))
        assert [v.thread_id for v in kept] == [wanted.thread_id], written


def test_the_table_tells_open_threads_from_completed_ones() -> None:
    open_thread = thread("h1", received=NOON)
    done = thread("h2", received=NOON - timedelta(hours=1), status=ThreadStatus.COMPLETED)
    header, first, second = table(views(open_thread, done))
    status_at = header.index("STATUS")
    assert first[status_at:].startswith("open ") and second[status_at:].startswith("completed ")


def test_every_column_at_its_widest_still_fits_120_terminal_columns() -> None:
    widest = thread(
        "h3",
        status=ThreadStatus.COMPLETED,
        flow="procurement-and-more",
        stage="waiting_for_customer_and_more",
        sender="someone.with.a.very.long.name@subsidiary.example.com",
        subject="Drucker \u5370\u5237\u6a5f" * 20,
    )
    lines = table(views(widest, thread("h4", subject="\u5370" * 10)))
    assert all(columns(line) <= 120 for line in lines), [columns(line) for line in lines]
    assert lines[1].endswith("…")
    requester_at = lines[0].index("REQUESTER")
    assert all(columns(line[:requester_at]) == requester_at for line in lines[1:])


def test_the_table_is_aligned_under_a_header_and_fits_120_columns() -> None:
    long_subject = "A very long subject that goes on " * 6
    lines = table(
        views(
            thread("e1", subject=long_subject, sender="someone.with.a.long.name@example.com"),
            thread("e2", flow="procurement", stage="awaiting_approval"),
        )
    )
    header = ["REF", "STATUS", "LAST", "ACTIVITY", "FLOW", "STAGE", "REQUESTER", "SUBJECT"]
    assert lines[0].split() == header
    assert all(len(line) <= 120 for line in lines)
    assert lines[1].endswith("…")
    columns = [lines[0].index(name) for name in ("FLOW", "STAGE", "REQUESTER", "SUBJECT")]
    for line in lines[1:]:
        assert all(line[c - 2 : c] == "  " and line[c] != " " for c in columns)
    assert "#" + ticket_reference(thread("e2").thread_id) in lines[2]
    assert "2026-12-04 12:00" in lines[2] and "procurement" in lines[2]


def test_control_characters_from_mail_never_reach_the_table() -> None:
    hostile = thread("f1", subject="Invoice\x1b]0;pwned\x07", sender="eve\u202e@example.com")
    (_, line) = table(views(hostile))
    assert "\x1b" not in line and "\x07" not in line and "\u202e" not in line
    assert "\\x1b" in line and "\\u202e" in line


def test_one_thread_shows_its_reference_requester_and_stage_notes() -> None:
    state = thread("g1", flow="procurement", stage="rejected")
    state.history.append(StageChange(stage="rejected", at=NOON, note="over budget"))
    lines = thread_lines(state, ThreadView.of(state))
    assert lines[0].endswith(f"[#{ticket_reference(state.thread_id)}]")
    assert "requester  alice@example.com" in lines
    assert any("stage rejected  over budget" in line for line in lines)


def test_a_reply_says_the_reference_and_where_it_goes_not_its_message_id() -> None:
    state = thread("r1", requester="erin@example.com", answer_to="erin@example.com")
    reply = HumanReply(text="Fixed.\n", by="ops", message_id="<human-1@mailroom.local>")
    reference = ticket_reference(state.thread_id)
    said = handed_over(state, reply, verbose=False)
    assert said == f"#{reference}: reply handed over for erin@example.com (sent once)"
    assert "<human-1@mailroom.local>" in handed_over(state, reply, verbose=True)
    closing = reply.model_copy(update={"close": True})
    assert handed_over(state, closing, verbose=False).endswith("completes once it went out")


def test_a_reply_to_a_thread_with_nobody_to_answer_says_it_is_not_sent() -> None:
    state = thread("r2", answer_to="")
    reply = HumanReply(text="Fixed.\n", by="ops", message_id="<human-2@mailroom.local>")
    assert "reply not sent: the thread has no address" in handed_over(state, reply, verbose=False)


def test_a_completed_thread_is_refused_with_its_reference_and_reason() -> None:
    done = thread("r3", status=ThreadStatus.COMPLETED, completed_reason="resolved")
    with pytest.raises(CliError) as refused:
        refuse_completed(done, ": not sent")
    reference = ticket_reference(done.thread_id)
    assert str(refused.value) == f"#{reference} is already completed (resolved): not sent"
    refuse_completed(thread("r4"), "")  # an open thread: nothing to refuse


def test_the_longest_stage_is_shown_whole() -> None:
    waiting = thread("s1", flow="procurement", stage="awaiting_confirmation")
    lines = table(views(waiting, thread("s2", subject="A very long subject " * 8)))
    assert "awaiting_confirmation  " in lines[1] and "awaiting_confirmati…" not in lines[1]
    assert all(columns(line) <= 120 for line in lines)


def test_a_stage_no_thread_is_at_hints_the_stages_there_are() -> None:
    now = views(thread("s3", stage="awaiting_approval"), thread("s4", stage="escalated"))
    assert stage_hint("awaiting", now) == (
        "no thread at stage 'awaiting' (stages now: awaiting_approval, escalated)"
    )
    assert stage_hint("ESCALATED", now) == ""
    assert stage_hint("x", []) == "no thread at stage 'x' (stages now: none)"


def test_one_thread_shows_no_trailing_spaces_after_an_empty_note_or_field() -> None:
    state = thread("g2", subject="")
    state.history.append(StageChange(stage="classifying", at=NOON, note=""))
    lines = thread_lines(state, ThreadView.of(state))
    assert all(line == line.rstrip() for line in lines)
    assert "  2026-12-04 12:00:00  stage classifying" in lines
