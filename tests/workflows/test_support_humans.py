"""People in a support thread (issue 20): an operator's reply, a team member's reply to an
escalation notice, and answers that help — as child workflow and inline."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio import activity
from temporalio.testing import WorkflowEnvironment

from activities.signals import SignalActivities
from adapters.agents.rules import RuleBasedAgent
from adapters.outbound.temporal_gateway import TemporalThreadGateway
from adapters.outbound.temporal_signals import TemporalWorkflowSignals
from tests.support import wait_for
from tests.workflows.harness import (
    Harness,
    local_activities,
    mail_to_child,
    signal_names,
    thread_harness,
)
from use_cases.decision_channel import request_key
from use_cases.flows import (
    AgentUsage,
    Classification,
    ClassifyRequest,
    FlowConfig,
    FlowMode,
    KbAnswer,
    SignalOutcome,
)
from use_cases.forwarding import WITH_START_BYTES, MailForward
from use_cases.human_replies import human_reply_id
from use_cases.mail import OutboundEmail
from use_cases.models import HumanReply, NewMessage, ThreadKey, ThreadState, ThreadStatus
from use_cases.threading import workflow_id_for
from workflows.messages import FORGET_PERSON
from workflows.versions import HISTORY_FORMAT

MAILBOX = "support@mailroom.local"
AGENTS = ("ann@corp.example", "bob@corp.example")
KNOWN = {"subject": "Forgot my password", "text": "I forgot my password and cannot login."}
UNKNOWN = {"subject": "Strange noise", "text": "The fan in my office makes a strange noise."}
FORWARD_HELD_AT_MOST = 30.0  # seconds: a test that fails does not hang
TOKEN = "support+t0123456789abcdef0123456789ab@mailroom.local"  # the thread's reply address


def config(mode: FlowMode, reminder: timedelta, close: timedelta) -> FlowConfig:
    return FlowConfig(
        modes={"support": mode},
        support_team=" Ann@corp.example, bob@corp.example",  # several, comma-separated
        sla_reminder_after=reminder,
        sla_auto_close_after=close,
        agent_in_process=mode is FlowMode.INLINE,
        outbox_in_process=mode is FlowMode.INLINE,
    )


def flow_config(mode: FlowMode, hurried: bool) -> FlowConfig:
    if hurried:
        return config(mode, timedelta(seconds=1), timedelta(seconds=2))
    return config(mode, timedelta(days=2), timedelta(days=5))


def operator_reply(h: Harness, text: str, *, close: bool = False) -> HumanReply:
    return HumanReply(
        text=text, by="ops", close=close, message_id=human_reply_id(h.thread_id, text, "ops")
    )


def sent(h: Harness, message_id: str) -> list[OutboundEmail]:
    return [m for m in h.sender.sent if m.message_id == message_id]


async def notes(h: Harness, note: str) -> list[str]:
    return [c.note for c in (await h.state()).history if c.note == note]


async def escalated(h: Harness) -> ThreadState | None:
    """Escalated and both agents told (the stage stays escalated until a person answers)."""
    state = await h.state()
    stages = [c.stage for c in state.history]
    told = len(h.mails("escalation")) >= len(AGENTS)
    return state if told and stages[-1:] == ["escalated"] else None


async def test_an_operator_reply_reaches_the_customer_once_threaded_with_the_reply_token(
    harness: Harness,
) -> None:
    await harness.send(0, reply_address=TOKEN, **UNKNOWN)
    await wait_for(lambda: escalated(harness), what="the escalation")
    reply = operator_reply(harness, "Our technician comes tomorrow at nine.")
    await harness.gateway.reply(harness.thread_id, reply)
    await harness.gateway.reply(harness.thread_id, reply)  # the command run again
    state = await wait_for(lambda: _human_replies(harness, 1), what="the reply recorded")
    [mail] = sent(harness, reply.message_id)
    assert mail.to == ("alice@example.com",) and mail.text == reply.text
    assert mail.in_reply_to == harness.root and mail.reply_to == TOKEN
    assert "Auto-Submitted" not in mail.headers  # a person wrote it
    assert reply.message_id in state.replies_sent and state.status is ThreadStatus.OPEN
    await harness.gateway.reply(harness.thread_id, reply)  # and again, once recorded
    await harness.send(1, text="Thank you, see you tomorrow, solved.", thread_rule="reply-token")
    final = await wait_for(lambda: _completed(harness), what="the customer's 'solved'")
    assert final.human_replies == 1 and len(await notes(harness, "answered by ops")) == 1


async def test_a_reply_with_close_completes_the_thread_after_it_went_out(
    harness: Harness,
) -> None:
    await harness.send(0, **UNKNOWN)
    await wait_for(lambda: escalated(harness), what="the escalation")
    reply = operator_reply(harness, "Fixed the fan on site.", close=True)
    await harness.gateway.reply(harness.thread_id, reply)
    final = await wait_for(lambda: _completed(harness), what="completion")
    assert final.stage == "resolved" and final.history[-1].note == "closed by ops"
    assert len(sent(harness, reply.message_id)) == 1 and final.human_replies == 1


async def test_a_reply_in_a_thread_without_a_flow_is_sent_by_the_thread(
    time_skipping_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    async with thread_harness(
        time_skipping_env, task_queue, tmp_path, mailbox="hello@mailroom.local"
    ) as h:
        await h.send(
            0, subject="Lunch on Friday", text="Shall we meet at noon?", reply_address=TOKEN
        )
        await wait_for(lambda: h.at_stage("needs_human"), what="a thread for a person")
        reply = operator_reply(h, "Noon is fine, see you then.", close=True)
        await h.gateway.reply(h.thread_id, reply)
        final = await wait_for(lambda: _completed(h), what="completion")
        [mail] = sent(h, reply.message_id)
        assert mail.to == ("alice@example.com",) and mail.in_reply_to == h.root
        assert mail.reply_to == TOKEN and final.completed_reason == "closed by ops"
        assert final.human_replies == 1 and final.history[-1].note == "answered by ops"


async def test_every_team_member_gets_a_notice_with_the_conversation_and_an_own_address(
    harness: Harness,
) -> None:
    await harness.send(0, **KNOWN)
    await wait_for(lambda: harness.mails("answer"), what="the answer")
    await harness.send(1, text="That did not help, the reset mail never comes.")
    await wait_for(lambda: escalated(harness), what="the escalation")
    notices = harness.mails("escalation")
    assert [n.to for n in notices] == [(a,) for a in AGENTS]
    for notice, agent in zip(notices, AGENTS, strict=True):
        signed = notice.decision_reply_to
        assert signed is not None and signed.approver == agent
        assert signed.request == request_key(harness.root)
        assert "I forgot my password" in notice.text and "reset mail never comes" in notice.text
        assert "did not help" in notice.text and "Forgot password" in notice.text
    assert len(harness.mails("answer")) == 1 and len(harness.mails("escalated")) == 1


async def test_a_team_members_reply_through_their_signed_address_is_sent_to_the_customer(
    harness: Harness,
) -> None:
    await harness.send(0, **UNKNOWN)
    await wait_for(lambda: escalated(harness), what="the escalation")
    forged = {"from_addr": AGENTS[0], "thread_rule": "references"}
    await harness.send(1, text="Forged: send us your password.", **forged)
    signed = {
        "from_addr": AGENTS[0],
        "decided_by": AGENTS[0],
        "decision_request": request_key(harness.root),
        "thread_rule": "decision-token",
    }
    await harness.send(
        2, text="Please switch the fan off.\n\nOn Monday X wrote:\n> noise", **signed
    )
    state = await wait_for(lambda: _human_replies(harness, 1), what="the agent's answer")
    to_customer = [m for m in harness.sender.sent if m.to == ("alice@example.com",)]
    assert [m.text for m in to_customer if "fan" in m.text] == ["Please switch the fan off."]
    assert not any("Forged" in m.text for m in harness.sender.sent)
    assert to_customer[-1].in_reply_to == harness.root  # the customer's mail, not the agent's
    assert f"answered by {AGENTS[0]}" in [c.note for c in state.history]


async def test_a_team_members_mail_not_through_their_signed_address_is_never_forwarded(
    harness: Harness,
) -> None:
    await harness.send(0, **UNKNOWN)
    await wait_for(lambda: escalated(harness), what="the escalation")
    # From: an agent, and even a signed address made for another agent or request
    await harness.send(1, from_addr=AGENTS[0], text="Forged one.", thread_rule="references")
    await harness.send(2, from_addr=AGENTS[0], decided_by=AGENTS[1], text="Forged two.")
    await harness.send(
        3, from_addr=AGENTS[0], decided_by=AGENTS[0], decision_request="0badc0de", text="Three."
    )
    signed = {"decided_by": AGENTS[0], "decision_request": request_key(harness.root)}
    await harness.send(4, from_addr=AGENTS[0], text="A real answer.", **signed)  # after them
    state = await wait_for(lambda: _human_replies(harness, 1), what="the signed answer")
    to_customer = [m.text for m in harness.sender.sent if m.to == ("alice@example.com",)]
    assert "A real answer." in to_customer and state.human_replies == 1
    assert not any(t in ("Forged one.", "Forged two.", "Three.") for t in to_customer)


async def test_the_same_answer_is_never_sent_twice_a_person_takes_over(harness: Harness) -> None:
    await harness.send(0, **KNOWN)
    await wait_for(lambda: harness.mails("answer"), what="the answer")
    await harness.send(1, text="Sorry, I forgot my password again and the login fails.")
    await wait_for(lambda: escalated(harness), what="the escalation")
    assert len(harness.mails("answer")) == 1
    notes = [c.note for c in (await harness.state()).history if c.stage == "escalated"]
    assert notes and "no other answer" in notes[0]


async def test_a_follow_up_saying_it_did_not_help_goes_to_a_person(harness: Harness) -> None:
    await harness.send(0, **KNOWN)
    await wait_for(lambda: harness.mails("answer"), what="the answer")
    await harness.send(1, text="Das hat nicht geholfen, der Login funktioniert immer noch nicht.")
    await wait_for(lambda: escalated(harness), what="the escalation")
    state = await harness.state()
    assert len(harness.mails("answer")) == 1 and len(harness.mails("escalated")) == 1
    assert any("did not help" in c.note for c in state.history if c.stage == "escalated")


async def test_a_human_answer_restarts_the_sla(hurried: Harness) -> None:
    """The reminder comes a full SLA period (1 s here) after the person's answer."""
    await hurried.send(0, **KNOWN)
    await wait_for(lambda: hurried.mails("answer"), what="the answer")
    await hurried.gateway.reply(hurried.thread_id, operator_reply(hurried, "Also try Firefox."))
    final = await wait_for(lambda: _closed(hurried), what="auto-close")
    history = final.history
    answered = next(c.at for c in history if c.note == "answered by ops")
    reminded = next(c.at for c in history if c.stage == "reminded")
    assert reminded - answered >= timedelta(seconds=1)
    assert len(hurried.mails("reminder")) == 1


async def test_mail_before_the_first_answer_is_answered_with_it_once(
    time_skipping_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, mode: FlowMode
) -> None:
    """A burst that is all there before the thread runs: one answer, to the latest mail, no
    escalation (the follow-up used to get the same answer a second time). The mail goes
    with the flow's start: a forward to a child flow that came after the child asked for
    its answer (here held until then) used to get the first mail answered alone."""
    root = f"<burst-{datetime.now(UTC).timestamp()}@example.com>"
    async with burst_before_worker(time_skipping_env, task_queue, tmp_path, mode, root) as h:
        await wait_for(lambda: _waiting(h), what="the answer")
        await wait_for(lambda: h.mails("answer"), what="the answer mail")
        state = await h.state()
        assert state.message_count == 2 and len(h.mails("answer")) == 1
        assert h.mails("answer")[0].in_reply_to == h.message(1).message_id
        assert [c.stage for c in state.history].count("answered") == 1
        assert h.mails("escalation") == [] and h.mails("escalated") == []


async def test_mail_that_came_while_the_thread_asked_for_its_route_goes_with_the_start(
    time_skipping_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    """The route of a mailbox no flow is set for is the agent's to find (a model: seconds):
    a follow-up that came meanwhile goes with the child flow's start, not forwarded after
    it (here held until the flow asked for its answer), and is answered with the first."""
    agent = RouteHeld()
    late = LateForward(TemporalWorkflowSignals(time_skipping_env.client), agent.asked)
    async with thread_harness(
        time_skipping_env,
        task_queue,
        tmp_path,
        mailbox="hello@mailroom.local",  # no flow's by its name
        flow_config=flow_config(FlowMode.CHILD, hurried=False),
        agent=agent,
        thread_activities=[late.forward_to_flow],
    ) as h:
        await h.send(0, **KNOWN)
        await asyncio.wait_for(agent.routing.wait(), timeout=FORWARD_HELD_AT_MOST)
        await h.send(1, text="Also: the login page hangs.")
        await wait_for(lambda: h.has_messages(2), what="the follow-up at the thread")
        agent.route.set()
        [answer] = await wait_for(lambda: h.mails("answer"), what="the answer")
        assert answer.in_reply_to == h.message(1).message_id
        history = await h.env.client.get_workflow_handle(h.thread_id).fetch_history()
        assert "forward_to_flow" not in local_activities(history)


async def test_mail_of_someone_erased_while_the_route_was_asked_never_reaches_the_flow(
    time_skipping_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    """Alice's mail and Bob's, there before the thread runs; Bob is erased while the
    thread asks for the route: the flow opens without his mail and never mails him."""
    hello = "hello@mailroom.local"  # no flow's by its name: the agent finds it
    root = f"<erased-{datetime.now(UTC).timestamp()}@example.com>"
    flow = flow_config(FlowMode.CHILD, hurried=False)
    here = {"mailbox": hello, "to": (hello,)}
    bobs = _message(root, 1, **here, from_addr="bob@example.com", text="Mine hangs too.")
    key = await before_any_worker(
        time_skipping_env, task_queue, flow, _message(root, 0, **here, **KNOWN), bobs
    )
    agent = RouteHeld()
    async with thread_harness(
        time_skipping_env, task_queue, tmp_path, mailbox=hello, flow_config=flow, agent=agent
    ) as h:
        h.root, h.key = root, key
        await asyncio.wait_for(agent.routing.wait(), timeout=FORWARD_HELD_AT_MOST)
        assert "bob@example.com" in (await h.state()).participants
        await h.gateway.forget_person(h.thread_id, "bob@example.com")

        async def forgotten() -> bool:
            return "bob@example.com" not in (await h.state()).participants

        await wait_for(forgotten, what="bob erased at the thread")
        agent.route.set()
        [answer] = await wait_for(lambda: h.mails("answer"), what="the answer")
        assert answer.to == ("alice@example.com",) and answer.in_reply_to == root
        assert not any("bob@example.com" in m.to for m in h.sender.sent)
        # the new flow was told to forget him too (and went on without him in a new run).
        # Its id by the thread's rule, not by a query: the thread continues as new about now
        # (the erasure), and a query the closing run's task carried is lost until its deadline
        child_id = f"{h.thread_id}-support-1"
        first = (await h.env.client.get_workflow_handle(child_id).describe()).raw_description
        run = first.workflow_execution_info.first_run_id
        opened = h.env.client.get_workflow_handle(child_id, run_id=run)
        told = signal_names(await opened.fetch_history())
        assert told.count(FORGET_PERSON) == 1, told


async def test_a_burst_larger_than_a_start_carries_reaches_the_flow_all_the_same(
    time_skipping_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    """Mail past WITH_START_BYTES is forwarded after the start: none is left behind."""
    root = f"<burst-{datetime.now(UTC).timestamp()}@example.com>"
    flow = flow_config(FlowMode.CHILD, hurried=False)
    large = "The login page hangs. " * (WITH_START_BYTES // 2 // 22)  # half a start's budget
    burst = [_message(root, n, text=f"{n}: {large}") for n in (1, 2, 3)]
    first = _message(root, 0, **KNOWN)
    key = await before_any_worker(time_skipping_env, task_queue, flow, first, *burst)
    async with thread_harness(
        time_skipping_env, task_queue, tmp_path, mailbox=MAILBOX, flow_config=flow
    ) as h:
        h.root, h.key = root, key
        await wait_for(lambda: _waiting(h), what="the answer")
        thread = await h.env.client.get_workflow_handle(h.thread_id).fetch_history()
        # mails 2 and 3 past the budget, in one forward after the start
        assert local_activities(thread).count("forward_to_flow") == 1
        child = h.env.client.get_workflow_handle((await h.state()).flow_workflow_id or "")
        history = await child.fetch_history()
        started = history.events[0].workflow_execution_started_event_attributes
        assert started.input.ByteSize() < WITH_START_BYTES + 64 * 1024
        assert mail_to_child(history) == [m.message_id for m in burst]  # once each, in order


@asynccontextmanager
async def burst_before_worker(
    env: WorkflowEnvironment,
    task_queue: str,
    tmp_path: Path,
    mode: FlowMode,
    root: str,
    flow: FlowConfig | None = None,
    history_format: int = HISTORY_FORMAT,
) -> AsyncIterator[Harness]:
    """A thread whose first two mails are both signalled before any worker runs it; a
    forward of mail to a child flow is held until the flow has asked for its answer."""
    flow = flow or flow_config(mode, hurried=False)
    first, then = _message(root, 0, **KNOWN), _message(root, 1, text="Also: the login page hangs.")
    key = await before_any_worker(env, task_queue, flow, first, then, history_format=history_format)
    agent = AnswerAsked()
    late = LateForward(TemporalWorkflowSignals(env.client), agent.asked)
    async with thread_harness(
        env,
        task_queue,
        tmp_path,
        mailbox=MAILBOX,
        flow_config=flow,
        agent=agent,
        thread_activities=[late.forward_to_flow],
    ) as h:
        h.root, h.key = root, key
        yield h


async def before_any_worker(
    env: WorkflowEnvironment,
    task_queue: str,
    flow: FlowConfig,
    first: NewMessage,
    *more: NewMessage,
    history_format: int = HISTORY_FORMAT,
) -> ThreadKey:
    """The thread of `first` (its Message-ID the key), its mail signalled before any
    worker runs it, as a gateway of `history_format` signals it."""
    gateway = TemporalThreadGateway(
        env.client, task_queue=task_queue, flow_config=flow, history_format=history_format
    )
    root, mailbox = first.message_id, first.mailbox
    key = ThreadKey(
        mailbox=mailbox, key=root, rule="test", workflow_id=workflow_id_for(mailbox, root)
    )
    for message in (first, *more):
        await gateway.new_message(key, message)
    return key


class AnswerAsked(RuleBasedAgent):
    """The offline agent, telling when a flow has asked it for an answer."""

    def __init__(self) -> None:
        super().__init__()
        self.asked = asyncio.Event()

    async def answer_from_kb(self, request: ClassifyRequest) -> KbAnswer:
        self.asked.set()
        return await super().answer_from_kb(request)


class RouteHeld(AnswerAsked):
    """The offline agent, finding a thread's flow only once told to."""

    def __init__(self) -> None:
        super().__init__()
        self.routing = asyncio.Event()
        self.route = asyncio.Event()

    async def classify(self, request: ClassifyRequest) -> Classification:
        self.routing.set()
        await asyncio.wait_for(self.route.wait(), timeout=FORWARD_HELD_AT_MOST)
        return await super().classify(request)


class LateForward:
    """The thread's forward of mail to its child flow, reaching it only once the flow has
    asked for its answer: the latest it can come in a busy worker."""

    def __init__(self, signals: TemporalWorkflowSignals, asked: asyncio.Event) -> None:
        self.forward = SignalActivities(signals).forward_to_flow
        self.asked = asked

    @activity.defn(name="forward_to_flow")
    async def forward_to_flow(self, forward: MailForward) -> SignalOutcome:
        await asyncio.wait_for(self.asked.wait(), timeout=FORWARD_HELD_AT_MOST)
        return await self.forward(forward)


def _message(root: str, n: int, **fields: object) -> NewMessage:
    values: dict[str, object] = {
        "mailbox": MAILBOX,
        "message_id": root if n == 0 else f"<m{n}-{root[1:]}",
        "from_addr": "alice@example.com",
        "to": (MAILBOX,),
        "subject": "Forgot my password",
        "references": () if n == 0 else (root,),
        "received_at": datetime(2026, 11, 21, tzinfo=UTC),
        **fields,
    }
    return NewMessage.model_validate(values)


async def _human_replies(h: Harness, count: int) -> ThreadState | None:
    state = await h.state()
    return state if state.human_replies >= count else None


async def _completed(h: Harness) -> ThreadState | None:
    state = await h.state()
    return state if state.status is ThreadStatus.COMPLETED else None


async def _closed(h: Harness) -> ThreadState | None:
    state = await _completed(h)
    return state if state is not None and state.stage == "closed" else None


async def _waiting(h: Harness) -> ThreadState | None:
    return await h.at_stage("waiting_for_customer")


async def test_the_thread_shows_the_tokens_its_agent_used(
    time_skipping_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, mode: FlowMode
) -> None:
    flow = flow_config(mode, hurried=False)
    async with thread_harness(
        time_skipping_env,
        task_queue,
        tmp_path,
        mailbox=MAILBOX,
        flow_config=flow,
        agent=CountingAgent(),
    ) as h:
        await h.send(0, **KNOWN)
        await wait_for(lambda: _waiting(h), what="the answer")
        await h.send(1, text="Another question: where is a copy of my invoice? Billing.")

        async def counted() -> ThreadState | None:
            state = await h.state()
            return state if state.agent_tokens == 240 else None

        await wait_for(counted, what="two answers' tokens")


class CountingAgent(RuleBasedAgent):
    """The offline agent, as if each answer cost a model 120 tokens."""

    async def answer_from_kb(self, request: ClassifyRequest) -> KbAnswer:
        answer = await super().answer_from_kb(request)
        usage = AgentUsage(prompt_tokens=100, completion_tokens=20)
        return answer.model_copy(update={"usage": usage})
