"""A person's answer on the thread's side: recorded once, and sent by the thread itself when
no flow runs to send it (a thread for a person, a flow that has finished)."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from use_cases.agent_answers import agent_answer, quotes_notice
    from use_cases.decision_channel import request_key
    from use_cases.flows import FlowConfig, team_addresses
    from use_cases.human_replies import thread_reply
    from use_cases.models import HumanReply, NewMessage, StageChange, ThreadState
    from use_cases.replies import reply_message_id

from workflows.flow import MAX_HISTORY
from workflows.sending import remember, send_mail

REMEMBERED_REPLIES = 100  # as the thread's own replies_sent


def record_human_reply(state: ThreadState, message_id: str) -> None:
    if message_id in state.replies_sent:
        return
    state.replies_sent = [*state.replies_sent, message_id][-REMEMBERED_REPLIES:]
    state.human_replies += 1


async def reply_from_thread(
    state: ThreadState, reply: HumanReply, config: FlowConfig, *, about_before: str = ""
) -> bool:
    """Send a person's reply from the thread; False when there is nobody to send it to
    (then the thread's history says so). `about_before`: a mail of the thread the reply
    does not answer (the agent's own)."""
    mail = thread_reply(reply, state, leave_out=about_before)
    if mail is None:
        workflow.logger.warning("human reply %s: nobody to send it to", reply.message_id)
        closing = "; the thread stays open (--close)" if reply.close else ""
        _note(state, "reply not sent", f"by {reply.by}: no address to send it to{closing}")
        return False
    failure = await send_mail(mail, local=config.outbox_in_process)
    if failure is not None:
        state.delivery_failures = remember(state.delivery_failures, failure)
    record_human_reply(state, reply.message_id)
    _note(state, "answered", f"answered by {reply.by}")
    return True


async def late_decision(state: ThreadState, message: NewMessage, config: FlowConfig) -> str | None:
    """A mail through a signed decision address of this thread that comes when no flow runs
    (the flow finished: the customer said solved, an operator completed, the SLA closed):
    a support team member's answer is sent to the customer by the thread, any other
    decision is recorded and ignored; neither starts a flow. None when `message` is not
    such a mail; else why the thread may complete again."""
    sender = message.from_addr.lower()
    requests = {request_key(m) for m in state.message_ids}
    signed = bool(sender) and message.decided_by.lower() == sender
    if not signed or message.decision_request not in requests:
        return None
    if state.flow != "support" or sender not in team_addresses(config.support_team):
        _note(state, "decision ignored", f"from {sender}: no flow is waiting for it")
        return f"a decision by {sender} after the {state.flow or 'thread'} flow ended"
    text = agent_answer(message)
    why = "no text above the notice" if not text else ""
    why = why or ("it quotes the internal notice" if quotes_notice(text) else "")
    if why:
        workflow.logger.warning("not forwarding %s from %s: %s", message.message_id, sender, why)
        _note(state, "answer not sent", f"from {sender}: {why}")
        return f"an answer by {sender} not sent"
    message_id = reply_message_id("support-agent-answer", message.message_id, state.mailbox)
    reply = HumanReply(text=text, by=sender, message_id=message_id, at=workflow.now())
    await reply_from_thread(state, reply, config, about_before=message.message_id)
    return f"answered by {sender} after the support flow ended"


def _note(state: ThreadState, stage: str, note: str) -> None:
    entry = StageChange(stage=stage, at=workflow.now(), note=note)
    state.history = [*state.history, entry][-MAX_HISTORY:]
