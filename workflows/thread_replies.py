"""A person's answer on the thread's side: recorded once, and sent by the thread itself when
no flow runs to send it (a thread for a person, a flow that has finished)."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from use_cases.flows import FlowConfig
    from use_cases.human_replies import thread_reply
    from use_cases.models import HumanReply, StageChange, ThreadState

from workflows.flow import MAX_HISTORY
from workflows.sending import remember, send_mail

REMEMBERED_REPLIES = 100  # as the thread's own replies_sent


def record_human_reply(state: ThreadState, message_id: str) -> None:
    if message_id in state.replies_sent:
        return
    state.replies_sent = [*state.replies_sent, message_id][-REMEMBERED_REPLIES:]
    state.human_replies += 1


async def reply_from_thread(state: ThreadState, reply: HumanReply, config: FlowConfig) -> None:
    mail = thread_reply(reply, state)
    if mail is None:
        workflow.logger.warning("human reply %s: nobody to send it to", reply.message_id)
        return
    failure = await send_mail(mail, local=config.outbox_in_process)
    if failure is not None:
        state.delivery_failures = remember(state.delivery_failures, failure)
    record_human_reply(state, reply.message_id)
    entry = StageChange(stage="answered", at=workflow.now(), note=f"answered by {reply.by}")
    state.history = [*state.history, entry][-MAX_HISTORY:]
