"""A support agent's answer to an escalation notice (issue 20): only what the agent wrote
reaches the customer, never the internal notice, and an answer that comes after the support
flow finished is still sent, by the thread, without starting a new flow."""

from __future__ import annotations

from temporalio.api.enums.v1 import EventType

from adapters.inbound.reply_text import reply_text
from tests.support import wait_for
from tests.workflows.harness import Harness
from tests.workflows.test_support_humans import (  # the module's harness: MAILBOX, flow_config
    AGENTS,
    MAILBOX,
    TOKEN,
    UNKNOWN,
    escalated,
    flow_config,
    operator_reply,
)
from use_cases.decision_channel import request_key
from use_cases.models import ThreadState, ThreadStatus

CUSTOMER = ("alice@example.com",)
__all__ = ["MAILBOX", "flow_config"]  # read by conftest.py


def _signed(h: Harness) -> dict[str, object]:
    return {
        "from_addr": AGENTS[0],
        "decided_by": AGENTS[0],
        "decision_request": request_key(h.root),
        "thread_rule": "decision-token",
    }


async def _noted(h: Harness, stage: str) -> ThreadState | None:
    state = await h.state()
    return state if any(c.stage == stage for c in state.history) else None


def _internal_to_customer(h: Harness) -> list[str]:
    return [
        m.text
        for m in h.sender.sent
        if m.to == CUSTOMER and ("conversation so far" in m.text or "mailroom reply" in m.text)
    ]


async def test_an_outlook_reply_with_only_a_signature_sends_the_customer_nothing(
    harness: Harness,
) -> None:
    await harness.send(0, reply_address=TOKEN, **UNKNOWN)
    await wait_for(lambda: escalated(harness), what="the escalation")
    notice = harness.mails("escalation")[0].text
    text = (
        "-- \nAnn\n\n-----Original Message-----\nFrom: support@mailroom.local\n"
        "Sent: Monday\nTo: ann@corp.example\nSubject: x\n\n" + notice
    )
    await harness.send(1, text=text, new_text=reply_text(text), **_signed(harness))
    state = await wait_for(lambda: _noted(harness, "answer not sent"), what="the refusal noted")
    assert not _internal_to_customer(harness) and state.human_replies == 0


async def test_an_html_reply_quoting_the_notice_sends_only_what_the_agent_wrote(
    harness: Harness,
) -> None:
    await harness.send(0, reply_address=TOKEN, **UNKNOWN)
    await wait_for(lambda: escalated(harness), what="the escalation")
    notice = harness.mails("escalation")[0].text
    text = f"Please switch the fan off.\n\n{notice}"  # a <blockquote> turned into plain text
    await harness.send(1, text=text, new_text=text, **_signed(harness))
    await wait_for(lambda: [m for m in harness.sender.sent if "fan off" in m.text], what="sent")
    to_customer = [m.text for m in harness.sender.sent if m.to == CUSTOMER]
    assert "Please switch the fan off." in to_customer and not _internal_to_customer(harness)


async def test_an_answer_still_carrying_notice_lines_is_not_sent_and_noted(
    harness: Harness,
) -> None:
    await harness.send(0, reply_address=TOKEN, **UNKNOWN)
    await wait_for(lambda: escalated(harness), what="the escalation")
    text = f"Fixed.\nOr run `mailroom reply {harness.thread_id} --body TEXT`."
    await harness.send(1, text=text, new_text=text, **_signed(harness))
    state = await wait_for(lambda: _noted(harness, "answer not sent"), what="the refusal noted")
    assert not _internal_to_customer(harness) and state.human_replies == 0
    assert any("internal notice" in c.note for c in state.history)


async def test_an_agents_answer_after_the_flow_finished_is_sent_without_a_new_flow(
    harness: Harness,
) -> None:
    await harness.send(0, reply_address=TOKEN, **UNKNOWN)
    await wait_for(lambda: escalated(harness), what="the escalation")
    await harness.send(1, text="Never mind, solved.", thread_rule="reply-token")

    async def completed() -> ThreadState | None:
        state = await harness.state()
        return state if state.status is ThreadStatus.COMPLETED else None

    done = await wait_for(completed, what="the thread completed")
    before = len(harness.sender.sent)
    await harness.send(2, text="Please switch the fan off.", **_signed(harness))

    async def answered() -> ThreadState | None:
        state = await harness.state()
        return state if state.human_replies == 1 else None

    state = await wait_for(answered, what="the late answer sent")
    new = harness.sender.sent[before:]
    assert [m.text for m in new if m.to == CUSTOMER] == ["Please switch the fan off."]
    assert not [m for m in new if m.to != CUSTOMER]  # no notices about their colleague
    assert state.flows_started == done.flows_started


async def test_an_unanswered_escalation_is_never_reminded_or_auto_closed(
    hurried: Harness,
) -> None:
    await hurried.send(0, reply_address=TOKEN, **UNKNOWN)
    await wait_for(lambda: escalated(hurried), what="the escalation")
    state = await hurried.state()
    flow_id = state.flow_workflow_id if state.flow_mode == "child" else hurried.thread_id

    async def sla_rang_twice() -> bool:
        history = await hurried.env.client.get_workflow_handle(flow_id or "").fetch_history()
        fired = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_TIMER_FIRED]
        return len(fired) >= 2

    await wait_for(sla_rang_twice, what="the SLA timer ringing twice")
    assert not hurried.mails("reminder") and not hurried.mails("closed")
    assert (await hurried.state()).status is ThreadStatus.OPEN
    await hurried.gateway.reply(hurried.thread_id, operator_reply(hurried, "We come at nine."))

    async def closed() -> ThreadState | None:
        state = await hurried.state()
        return state if state.status is ThreadStatus.COMPLETED else None

    final = await wait_for(closed, what="the auto-close after a person answered")
    assert len(hurried.mails("reminder")) == 1 and final.stage == "closed"
