"""bench.coordinator's other side: the workflow items' inboxes and the baselines' do-nothing
workflows, served by their own worker process (like `mailroom worker`, apart from the load).

    python -m bench.coordinator_peers --target HOST:PORT --task-queue Q

- `BenchInboxWorkflow`: a workflow item's inbox. Each COORDINATOR_INSTRUCTION (or a relay's
  ping) that says GO is kept with the time its workflow task started (workflow.now(), the
  server's clock on this machine): the "instruction received" of the signal path.
- `BenchEchoWorkflow`: answers its `echo` update at once (the daemons' baseline: a bare
  update-with-start) and relays each `ping` signal to the inbox it names (the signal
  path's baseline: signal-with-start there, one signal back).
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from temporalio import workflow

from bench.minimal import worker_main

with workflow.unsafe.imports_passed_through():
    from use_cases.coordinator import COORDINATOR_INSTRUCTION, Instruction, Verdict

ECHO = "echo"
PING = "ping"
RECEIVED = "received"


@workflow.defn(name="BenchInboxWorkflow")
class InboxWorkflow:
    def __init__(self) -> None:
        self.received: dict[str, float] = {}

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)

    @workflow.signal(name=COORDINATOR_INSTRUCTION)
    def instruction(self, instruction: Instruction) -> None:
        if instruction.verdict is Verdict.GO:
            self.received.setdefault(instruction.item_id, workflow.now().timestamp())

    @workflow.query(name=RECEIVED)
    def received_at(self) -> dict[str, float]:
        return self.received


@workflow.defn(name="BenchEchoWorkflow")
class EchoWorkflow:
    def __init__(self) -> None:
        self.relays: set[asyncio.Task[None]] = set()

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)

    @workflow.update(name=ECHO)
    def echo(self, message: dict[str, Any]) -> dict[str, Any]:
        return message

    @workflow.signal(name=PING)
    def ping(self, message: dict[str, str]) -> None:
        go = Instruction(item_id=message["item_id"], verdict=Verdict.GO)
        inbox = workflow.get_external_workflow_handle(message["inbox"])
        task = asyncio.create_task(inbox.signal(COORDINATOR_INSTRUCTION, go))
        self.relays.add(task)
        task.add_done_callback(self.relays.discard)


if __name__ == "__main__":
    sys.exit(worker_main("python -m bench.coordinator_peers", [InboxWorkflow, EchoWorkflow]))
