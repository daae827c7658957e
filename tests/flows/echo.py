"""A flow defined only in the test package: the guard that adding a flow needs its own files
and one FlowSpec, nothing else (tests/integration/test_flow_plugin.py).

It answers a mail with its words counted, asks for a second mail, and finishes on it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    from use_cases.flows import FlowProgress, FlowStart

from orchestrator.flow_spec import FlowSpec, NoSettings
from workflows.flow import FlowRuntime
from workflows.flow_workflow import FlowWorkflow


class Words(BaseModel):
    text: str


class Counted(BaseModel):
    words: int


class EchoActivities:
    @activity.defn(name="echo_count_words")
    async def count(self, request: Words) -> Counted:
        return Counted(words=len(request.text.split()))


class EchoFlow(FlowRuntime):
    name = "echo"

    async def run(self) -> FlowProgress:
        await self.stage("counting")
        counted = await workflow.execute_activity_method(
            EchoActivities.count,
            Words(text=self.start.first.text),
            start_to_close_timeout=timedelta(seconds=30),
            task_queue=self.queue,
        )
        await self.stage("answered", facts={"words": counted.words})
        await self.mail("echo", f"Echo: you wrote {counted.words} words.\n")
        second = await self.next_message_by(workflow.now() + timedelta(days=1))
        if second is None:
            return await self.finish("expired")
        return await self.finish("done", f"second mail from {second.from_addr}")


@workflow.defn(name="EchoFlow")
class EchoWorkflow(FlowWorkflow):
    @workflow.init
    def __init__(self, start: FlowStart) -> None:
        self.runtime = EchoFlow(start, self.reporter(start))

    @workflow.run
    async def run(self, start: FlowStart) -> FlowProgress:
        return await self.run_resumably(start)


def echo_activities(wiring: Any, client: Any) -> list[Any]:
    return [EchoActivities().count]


ECHO = FlowSpec(
    name="echo",
    workflow=EchoWorkflow,
    runtime=EchoFlow,
    activities=echo_activities,
    settings=NoSettings,
    mailboxes=("echo",),
    facts=lambda facts: [("words", str(facts.get("words", "")))],
)
