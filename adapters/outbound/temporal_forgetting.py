"""A person erased from a thread shared with others (`mailroom erase`): the thread goes on
for them in a run that holds nothing of the person, and every earlier run, which recorded
the person's mail, is deleted.

- A running thread is signalled FORGET_PERSON: it drops the person from its state and its
  flow's, tells its child flow, and both continue as new at their next rest. Once they
  have, every run of the thread and its flows but the current ones is deleted.
- A completed thread is written again: a run started with its state less the person
  completes at once (ThreadInput.rewrite), so a later mail reopens it from that state; its
  earlier runs and its flows' are deleted.
- A thread that ended otherwise (terminated, failed) has no state a reopen would use: all
  its runs are deleted, as for a thread of the person alone.

A flow that cannot rest (a purchase waiting for its approval) keeps the person's mail in
its current run until it ends: the thread is returned as still holding it, and running
`mailroom erase` again once the flow has ended deletes that run too.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Set
from dataclasses import dataclass, field
from datetime import timedelta

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from adapters.outbound.history_payloads import recorded_values
from adapters.outbound.temporal_erasure import TemporalThreadErasure
from adapters.outbound.visibility_query import quoted
from use_cases.forgetting import Forgetting, blobs_of_mail
from use_cases.models import ThreadInput
from use_cases.thread_labels import thread_summary
from workflows.messages import FORGET_PERSON
from workflows.search_attributes import forgotten_attributes
from workflows.thread import ThreadWorkflow

# How long a shared thread and its flows are given to continue as new without the person
# (a workflow task or two when their workers run); past it, they are said to hold them.
FORGET_PATIENCE = timedelta(seconds=30)
POLL_INTERVAL = 0.1


@dataclass
class Forgotten:
    runs_deleted: int = 0
    # workflow ids whose current run still holds the person (a flow that cannot rest yet,
    # a worker that is down): `mailroom erase` again deletes what it recorded then
    holding: list[str] = field(default_factory=list)


class TemporalForgetting:
    def __init__(self, client: Client, patience: timedelta = FORGET_PATIENCE) -> None:
        self.client = client
        self.patience = patience
        self.erasure = TemporalThreadErasure(client)

    async def forget_in(self, workflow_id: str, address: str, *, dry_run: bool) -> Forgotten:
        """The person out of one shared thread; dry: the earlier runs it would delete."""
        handle = self.client.get_workflow_handle(workflow_id)
        description = await handle.describe()
        if dry_run:
            executions = await self.erasure.executions_of([workflow_id])
            running = {(workflow_id, description.run_id)} if description.run_id else set()
            return Forgotten(runs_deleted=len(set(executions) - running))
        if description.status == WorkflowExecutionStatus.RUNNING:
            return await self._forget_running(workflow_id, address)
        if description.status == WorkflowExecutionStatus.COMPLETED:
            try:
                return await self._rewrite_completed(workflow_id, address)
            except WorkflowAlreadyStartedError:  # a mail reopened it meanwhile
                return await self._forget_running(workflow_id, address)
        executions = await self.erasure.executions_of([workflow_id])
        return Forgotten(runs_deleted=await self.erasure.delete(executions))

    async def their_blobs(self, workflow_id: str, address: str) -> set[str]:
        """The blobs of the person's own mail in the thread (read from every run its
        histories hold, before they are deleted) that no one else's mail there holds."""
        forgetting = Forgetting([address])
        theirs: set[str] = set()
        others: set[str] = set()
        for run in await self.erasure.executions_of([workflow_id]):
            try:
                async for value in recorded_values(self.client, *run):
                    found, elsewhere = blobs_of_mail(value, forgetting)
                    theirs |= found
                    others |= elsewhere
            except RPCError as exc:
                if exc.status != RPCStatusCode.NOT_FOUND:  # deleted since it was listed
                    raise
        return theirs - others

    async def _forget_running(self, workflow_id: str, address: str) -> Forgotten:
        before = {workflow_id: await self._current_run(workflow_id)}
        before.update(await self._running_flows(workflow_id))
        await self.client.get_workflow_handle(workflow_id).signal(FORGET_PERSON, address)
        holding = sorted(await self._until_moved_on(before))
        thread = await self.client.get_workflow_handle(workflow_id).describe()
        if thread.status == WorkflowExecutionStatus.COMPLETED:
            # it completed instead of continuing: its last run recorded them too
            rewritten = await self._rewrite_completed(workflow_id, address)
            return Forgotten(rewritten.runs_deleted, sorted({*holding, *rewritten.holding}))
        deleted = await self._delete_ended(workflow_id, before)
        return Forgotten(runs_deleted=deleted, holding=holding)

    async def _rewrite_completed(self, workflow_id: str, address: str) -> Forgotten:
        handle = self.client.get_workflow_handle_for(ThreadWorkflow.run, workflow_id)
        description = await handle.describe()
        forgetting = Forgetting([address])
        state = forgetting.model(await handle.result())
        rewritten = await self.client.start_workflow(
            ThreadWorkflow.run,
            ThreadInput(
                thread_id=state.thread_id, mailbox=state.mailbox, state=state, rewrite=True
            ),
            id=workflow_id,
            task_queue=description.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            static_summary=thread_summary(
                state.subject, state.requester or next(iter(state.participants), "")
            ),
            search_attributes=forgotten_attributes(description.typed_search_attributes, forgetting),
        )
        holding: list[str] = []
        try:
            await asyncio.wait_for(rewritten.result(), self.patience.total_seconds())
        except TimeoutError:  # no thread worker: the new run waits for one
            holding.append(workflow_id)
        runs = {workflow_id: description.run_id or ""}
        keep = {(workflow_id, rewritten.result_run_id or "")}  # what a reopen starts from
        deleted = await self._delete_ended(workflow_id, runs, keep)
        return Forgotten(runs_deleted=deleted, holding=holding)

    async def _running_flows(self, workflow_id: str) -> dict[str, str]:
        literal = quoted(workflow_id)
        query = (
            f"RootWorkflowId = {literal} AND WorkflowId != {literal} "
            "AND ExecutionStatus = 'Running'"
        )
        return {e.id: e.run_id async for e in self.client.list_workflows(query)}

    async def _current_run(self, workflow_id: str) -> str:
        """The run now current (running or, once ended, the last)."""
        try:
            description = await self.client.get_workflow_handle(workflow_id).describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return ""
            raise
        return description.run_id or ""

    async def _until_moved_on(self, before: dict[str, str]) -> set[str]:
        """The workflows still on the run they were on (not continued, not ended) once the
        patience ran out; empty as soon as every one moved on."""
        deadline = time.monotonic() + self.patience.total_seconds()
        waiting = set(before)
        while waiting:
            for workflow_id in sorted(waiting):
                if await self._moved_on(workflow_id, before[workflow_id]):
                    waiting.discard(workflow_id)
            if not waiting or time.monotonic() >= deadline:
                break
            await asyncio.sleep(POLL_INTERVAL)  # polling the server: no event to wait on
        return waiting

    async def _moved_on(self, workflow_id: str, run_id: str) -> bool:
        handle = self.client.get_workflow_handle(workflow_id, run_id=run_id)
        try:
            description = await handle.describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return True
            raise
        return description.status != WorkflowExecutionStatus.RUNNING

    async def _delete_ended(
        self, workflow_id: str, known: dict[str, str], keep: Set[tuple[str, str]] = frozenset()
    ) -> int:
        """Every run of the thread and its flows that has ended, checked one by one (a
        run still going is never deleted; visibility lags: a run just continued may still
        be listed as running, and one just started not at all)."""
        listed = set(await self.erasure.executions_of([workflow_id]))
        candidates = (listed | {(w, run) for w, run in known.items() if run}) - keep
        ended = [run for run in sorted(candidates) if await self._moved_on(*run)]
        return await self.erasure.delete(ended)
