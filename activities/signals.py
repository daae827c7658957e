"""A child flow's progress to its thread, and the thread's mail to its child: signals sent
by local activity.

A workflow's own signal command (`get_external_workflow_handle(...).signal`) costs the
server a transfer task and an `ExternalWorkflowExecutionSignaled` event, and the sender one
more workflow task, only to learn that the signal arrived. Sent from a local activity, the
signal is one RPC inside the sender's current workflow task, recorded as a marker; the
thread's side is the same either way.

A local activity runs again when its workflow task is retried before it completed, so a
report can arrive twice. The server applies one request id once per run (the id is fixed
by the workflow, `workflow.uuid4()`), and a thread applying the same report again changes
nothing (workflows/routing.py: FlowRouter.apply).

The thread's mail to its child goes the same way (`forward_to_flow`, since the patch
MAIL_TO_CHILD_BY_ACTIVITY). A mail applied twice would be answered twice, and the request
id dedupes within one run only, not across the child's continue-as-new: the child also
remembers the mail it took and drops a repeat (use_cases/forwarding.py). No loop: a
report sent again changes nothing at the thread, and the thread forwards only a mail it
has newly received, so a task retried on one side never makes the other send again
(tests/workflows/test_mail_to_child_once.py).
"""

from __future__ import annotations

from temporalio import activity

from use_cases.flows import ProgressReport, SignalOutcome
from use_cases.forwarding import ForwardedMail, MailForward
from use_cases.ports import WorkflowSignals


class SignalActivities:
    def __init__(self, signals: WorkflowSignals) -> None:
        self.signals = signals

    @activity.defn(name="report_to_thread")
    async def report_to_thread(self, report: ProgressReport) -> SignalOutcome:
        delivered = await self.signals.signal(
            report.workflow_id, report.signal, report.progress, request_id=report.request_id
        )
        return SignalOutcome(delivered=delivered)

    @activity.defn(name="forward_to_flow")
    async def forward_to_flow(self, forward: MailForward) -> SignalOutcome:
        mail = ForwardedMail(forward.messages)
        delivered = await self.signals.signal(
            forward.workflow_id, forward.signal, mail, request_id=forward.request_id
        )
        return SignalOutcome(delivered=delivered)
