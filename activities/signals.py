"""A child flow's progress to its thread, signalled by a local activity.

A workflow's own signal command (`get_external_workflow_handle(...).signal`) costs the
server a transfer task and an `ExternalWorkflowExecutionSignaled` event, and the sender one
more workflow task, only to learn that the signal arrived. Sent from a local activity, the
signal is one RPC inside the sender's current workflow task, recorded as a marker; the
thread's side is the same either way.

A local activity runs again when its workflow task is retried before it completed, so a
report can arrive twice. The server applies one request id once per run (the id is fixed
by the workflow, `workflow.uuid4()`), and a thread applying the same report again changes
nothing (workflows/routing.py: FlowRouter.apply). Only this direction goes by activity:
the thread's mail to its child stays a signal command. A mail applied twice would be
answered twice (the request id dedupes within one run only, not across continue-as-new),
and with both directions sent by activity, a task retried on one side re-sends to the
other, whose retried task re-sends back: tried, this looped on the time-skipping test
server, which does not dedupe signals by request id.
"""

from __future__ import annotations

from temporalio import activity

from use_cases.flows import ProgressReport, SignalOutcome
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
