"""CoordinatorWorkflow (issue 18, seed 000): the one coordinator of an installation.

Items reach it by signal-with-start (workflows, through the `coordinator_signal` local
activity) or update-with-start (daemons, which cannot take a signal and want the answer
at once), so exactly one run is open. The rules are use_cases/lanes.py; this class only
delivers: an answer or a grant for a workflow item goes by the COORDINATOR_INSTRUCTION
signal, and an item whose workflow cannot be signalled any more (closed) is forgotten, so
its lanes go to the next in line.

The loop sleeps until the earliest lease lapses (or the idle time is over), and a message
that brings an earlier deadline wakes it; renewals, which only push deadlines later, do
not, so a busy coordinator does not start and cancel a timer per message. It completes only
after `idle_timeout_seconds` with no item registered and nothing received; the next
signal-with-start opens a new run. It continues as new (the state carried, every handler
and delivery finished first) when the server suggests it or the history passes
`continue_as_new_after_events`, far below Temporal's limits.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from use_cases import lanes
    from use_cases.coordinator import (
        COORDINATOR_INSTRUCTION,
        DEREGISTER,
        LET_GO,
        LIST_ITEMS,
        REGISTER,
        RELEASE,
        REQUEST_LANE,
        SEED_LIST_ITEMS,
        START_PROCESSING,
        STOP_PROCESSING,
        UPDATE,
        CoordinatorView,
        Deregister,
        Instruction,
        ItemUpdate,
        Register,
        StartProcessing,
        StopProcessing,
    )
    from use_cases.lanes import CoordinatorInput, CoordinatorState, Outcome


@workflow.defn(name="CoordinatorWorkflow")
class CoordinatorWorkflow:
    @workflow.init
    def __init__(self, given: CoordinatorInput) -> None:
        self.given = given
        self.state = given.state or CoordinatorState()
        self.received_at = workflow.now()
        self.timer_at: datetime | None = None  # when the loop's current wait ends
        self.woken = False
        self.deliveries: set[asyncio.Task[None]] = set()

    @workflow.run
    async def run(self, given: CoordinatorInput) -> CoordinatorView:
        while True:
            await self._sleep()
            self._deliver(lanes.expire(self.state, workflow.now()), reply_to=None)
            if self._idle_over() or self._history_full():
                await workflow.wait_condition(self._quiet)
                if self._idle_over():  # nothing came while the handlers finished
                    return lanes.view(self.state)
                if self._history_full():
                    workflow.continue_as_new(self._carried())

    async def _sleep(self) -> None:
        self.woken = False
        self.timer_at = self._wake_at()
        timeout = max(self.timer_at - workflow.now(), timedelta(0))
        if timeout <= timedelta(0):
            return
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: self.woken or self._history_full(), timeout=timeout
            )

    def _wake_at(self) -> datetime:
        deadline = lanes.next_deadline(self.state)
        if deadline is not None:
            return deadline
        return self.received_at + timedelta(seconds=self.given.idle_timeout_seconds)

    def _idle_over(self) -> bool:
        idle = timedelta(seconds=self.given.idle_timeout_seconds)
        return not self.state.items and workflow.now() - self.received_at >= idle

    def _history_full(self) -> bool:
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() >= self.given.continue_as_new_after_events
        )

    def _quiet(self) -> bool:
        return workflow.all_handlers_finished() and not self.deliveries

    def _carried(self) -> CoordinatorInput:
        state = self.state.model_copy(update={"runs": self.state.runs + 1})
        return self.given.model_copy(update={"state": state})

    def _received(self, outcome: Outcome, reply_to: str | None) -> None:
        """A message applied: the idle clock restarts, the answer and grants go out, and
        the loop wakes when its next wake-up (the earliest lease, or the end of the idle
        time once no item is left) moved earlier than its timer."""
        self.received_at = workflow.now()
        if self.timer_at is None or self._wake_at() < self.timer_at:
            self.woken = True
        self._deliver(outcome, reply_to)

    def _deliver(self, outcome: Outcome, reply_to: str | None) -> None:
        if outcome.answer is not None and reply_to is not None:
            self._signal(reply_to, outcome.answer)
        for sent in outcome.others:
            if sent.workflow_id is not None:
                self._signal(sent.workflow_id, sent.instruction)

    def _signal(self, workflow_id: str, instruction: Instruction) -> None:
        task = asyncio.create_task(self._send(workflow_id, instruction))
        self.deliveries.add(task)
        task.add_done_callback(self.deliveries.discard)

    async def _send(self, workflow_id: str, instruction: Instruction) -> None:
        try:
            handle = workflow.get_external_workflow_handle(workflow_id)
            await handle.signal(COORDINATOR_INSTRUCTION, instruction)
        except Exception:  # the item's workflow is closed (or was never there)
            record = self.state.items.get(instruction.item_id)
            if record is not None and record.ref.workflow_id == workflow_id:
                self._deliver(lanes.gone(self.state, instruction.item_id, workflow.now()), None)

    @workflow.signal(name=REGISTER)
    def register(self, message: Register) -> None:
        outcome = lanes.register(self.state, message, workflow.now())
        self._received(outcome, message.item.workflow_id)

    @workflow.signal(name=START_PROCESSING)
    def start_processing(self, message: StartProcessing) -> None:
        outcome = lanes.start_processing(self.state, message, workflow.now())
        self._received(outcome, message.item.workflow_id)

    @workflow.signal(name=UPDATE)
    def update(self, message: ItemUpdate) -> None:
        self._received(lanes.update(self.state, message, workflow.now()), None)

    @workflow.signal(name=STOP_PROCESSING)
    def stop_processing(self, message: StopProcessing) -> None:
        # a workflow letting go is not answered: it is often closing
        self._received(lanes.stop_processing(self.state, message, workflow.now()), None)

    @workflow.signal(name=DEREGISTER)
    def deregister(self, message: Deregister) -> None:
        self._received(lanes.deregister(self.state, message, workflow.now()), None)

    @workflow.signal(name=RELEASE)
    def release(self, item_id: str) -> None:
        self._received(lanes.release(self.state, item_id, workflow.now()), None)

    @workflow.update(name=REQUEST_LANE)
    def request_lane(self, request: StartProcessing) -> Instruction:
        outcome = lanes.start_processing(self.state, request, workflow.now())
        self._received(outcome, None)
        assert outcome.answer is not None
        return outcome.answer

    @workflow.update(name=LET_GO)
    def let_go(self, stop: StopProcessing) -> Instruction:
        outcome = lanes.stop_processing(self.state, stop, workflow.now())
        self._received(outcome, None)
        assert outcome.answer is not None
        return outcome.answer

    @workflow.query(name=LIST_ITEMS)
    def list_items(self) -> CoordinatorView:
        return lanes.view(self.state)

    @workflow.query(name=SEED_LIST_ITEMS)
    def list_orchestrated_items(self) -> CoordinatorView:
        return lanes.view(self.state)
