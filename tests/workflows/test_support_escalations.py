"""A support thread after an escalation, as a new user meets it (issue 20 walkthrough): the
stage says a person is awaited, a customer writing again is passed on as such, a "solved"
not through the thread's reply address is noted, not answered, and our own addresses are
never listed among the thread's participants."""

from __future__ import annotations

from datetime import timedelta

from tests.support import wait_for
from tests.workflows.harness import Harness
from use_cases.flows import FlowConfig, FlowMode
from use_cases.models import HumanReply, ThreadState

MAILBOX = "support@mailroom.local"
AGENTS = ("ann@corp.example", "bob@corp.example")
UNKNOWN = {"subject": "Strange noise", "text": "The fan in my office makes a strange noise."}
TOKEN = "support+t0123456789abcdef0123456789ab@mailroom.local"  # the thread's reply address


def flow_config(mode: FlowMode, hurried: bool) -> FlowConfig:
    return FlowConfig(
        modes={"support": mode},
        support_team=",".join(AGENTS),
        sla_reminder_after=timedelta(days=2),
        sla_auto_close_after=timedelta(days=5),
        agent_in_process=mode is FlowMode.INLINE,
        outbox_in_process=mode is FlowMode.INLINE,
    )


async def _escalated(h: Harness, notices: int = len(AGENTS)) -> ThreadState | None:
    state = await h.state()
    told = len(h.mails("escalation")) >= notices and h.mails("escalated")
    return state if told and state.history[-1].stage == "escalated" else None


async def _noted(h: Harness, event: str) -> ThreadState | None:
    state = await h.state()
    return state if any(c.stage == event for c in state.history) else None


async def test_a_thread_waiting_for_a_person_stays_escalated(harness: Harness) -> None:
    await harness.send(0, reply_address=TOKEN, **UNKNOWN)
    await wait_for(lambda: _escalated(harness), what="the escalation")
    reply = HumanReply(text="We come tomorrow.", by="ops", message_id="<r1@mailroom.local>")
    await harness.gateway.reply(harness.thread_id, reply)
    state = await wait_for(lambda: _noted(harness, "answered"), what="the person's answer")
    await wait_for(lambda: harness.at_stage("waiting_for_customer"), what="the customer's turn")
    stages = [c.stage for c in state.history]
    after = stages.index("escalated")
    assert stages[after : after + 2] == ["escalated", "answered"]


async def test_a_customer_writing_again_while_escalated_is_passed_on_not_answered_again(
    harness: Harness,
) -> None:
    await harness.send(0, **UNKNOWN)
    await wait_for(lambda: _escalated(harness), what="the escalation")
    await harness.send(1, text="Now it also smells of burnt plastic.")
    state = await wait_for(lambda: _escalated(harness, 2 * len(AGENTS)), what="2nd notices")
    again = harness.mails("escalation")[len(AGENTS) :]
    assert all("the customer wrote again" in n.text for n in again)
    assert all("burnt plastic" in n.text and "did not help" not in n.text for n in again)
    assert [n.to for n in again] == [(a,) for a in AGENTS]
    assert len(harness.mails("escalated")) == 1 and harness.mails("answer") == []
    assert state.stage == "escalated"


async def test_a_solved_not_through_the_reply_address_is_noted_not_escalated(
    harness: Harness,
) -> None:
    await harness.send(0, subject="Forgot my password", text="I forgot my password.")
    await wait_for(lambda: harness.mails("answer"), what="the answer")
    await harness.send(1, text="Thanks, that solved it.", thread_rule="subject")
    state = await wait_for(lambda: _noted(harness, "not closed"), what="the note")
    assert "not through the thread's reply address" in state.history[-1].note
    assert harness.mails("escalation") == [] and harness.mails("escalated") == []
    assert harness.mails("thanks") == [] and len(harness.mails("answer")) == 1
    assert state.stage == "waiting_for_customer"


async def test_the_will_answer_mail_greets_the_customer_and_the_notice_names_the_ticket(
    harness: Harness,
) -> None:
    await harness.send(0, from_name="Alice Smith", **UNKNOWN)
    state = await wait_for(lambda: _escalated(harness), what="the escalation")
    [told] = harness.mails("escalated")
    assert told.text.startswith("Hello Alice Smith,\n\n")
    notice = harness.mails("escalation")[0].text
    assert f"mailroom reply #{state.reference} --body TEXT" in notice
    assert "above the marker line" in notice and "quoted text" not in notice


async def test_our_own_reply_address_is_not_a_participant(harness: Harness) -> None:
    await harness.send(0, **UNKNOWN)
    await harness.send(1, text="Any news?", to=(TOKEN,), cc=("SUPPORT@mailroom.local", "c@x.org"))
    state = await wait_for(lambda: harness.has_messages(2), what="the follow-up")
    assert state.participants == ["alice@example.com", "c@x.org"]


async def test_a_solved_from_the_customers_vouched_for_address_closes(harness: Harness) -> None:
    await harness.send(0, subject="Forgot my password", text="I forgot my password.")
    await wait_for(lambda: harness.mails("answer"), what="the answer")
    vouched = {"thread_rule": "subject", "from_authenticated": True}
    await harness.send(1, from_addr="mallory@example.net", text="Solved.", **vouched)
    await wait_for(lambda: _noted(harness, "not closed"), what="a stranger's 'solved' noted")
    await harness.send(2, text="Thanks, that solved it.", **vouched)
    await wait_for(lambda: harness.mails("thanks"), what="the thanks")
    assert harness.mails("escalated") == []
