"""A person erased from a thread shared with others (`mailroom erase`): the thread goes on
for them in a run that holds nothing of the person, and every earlier run, which recorded
the person's mail, is deleted.

- A running thread is signalled FORGET_PERSON: it drops the person from its state and its
  flow's, tells its child flow, and both continue as new at their next rest. Once they
  have, every ended run of the thread and its flows is deleted.
- A completed thread is written again: a run started with its state less the person
  completes at once (ThreadInput.rewrite), so a later mail reopens it from that state; its
  earlier runs and its flows' are deleted.
- A thread that ended otherwise (terminated, failed) has no state a reopen would use: all
  its runs are deleted, as for a thread of the person alone.
- A thread Temporal no longer keeps (its retention passed) has nothing left there.

The thread's current run is never deleted (a reopen starts from it), nor a run still going.
What is left is read back: a run that still names the person (a flow that cannot pause
before it ends, such as a purchase waiting for its approval; a worker that is down; a mail
that reopened a completed thread from its old state while it was written again) is
returned as holding them, and running `mailroom erase` again once it has moved on ends it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta

from temporalio.client import (
    Client,
    WorkflowContinuedAsNewError,
    WorkflowExecutionStatus,
    WorkflowFailureError,
)
from temporalio.service import RPCError, RPCStatusCode

from adapters.outbound.history_payloads import recorded_values
from adapters.outbound.temporal_erasure import TemporalThreadErasure
from adapters.outbound.temporal_gateway import TemporalThreadGateway
from adapters.outbound.visibility_query import quoted
from use_cases.forgetting import Forgetting, blobs_of_mail
from use_cases.ports import ThreadNotFound

# How long a shared thread and its flows are given to continue as new without the person
# (a workflow task or two when their workers run); past it, they are said to hold them.
FORGET_PATIENCE = timedelta(seconds=30)
Run = tuple[str, str]  # (workflow id, run id)
TRIES = 4


@dataclass
class Forgotten:
    runs_deleted: int = 0
    # workflow ids whose current run still holds the person: `mailroom erase` again
    # deletes what they recorded once they have moved on
    holding: list[str] = field(default_factory=list)


class TemporalForgetting:
    def __init__(
        self,
        client: Client,
        gateway: TemporalThreadGateway,
        patience: timedelta = FORGET_PATIENCE,
    ) -> None:
        self.client = client
        self.gateway = gateway
        self.patience = patience
        self.erasure = TemporalThreadErasure(client)

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

    async def forget_in(self, workflow_id: str, address: str, *, dry_run: bool) -> Forgotten:
        """The person out of one shared thread; dry: the runs it would delete (every run
        there is now: the running ones continue as new first)."""
        if dry_run:
            return Forgotten(runs_deleted=len(await self.erasure.executions_of([workflow_id])))
        forgetting = Forgetting([address])
        holding: set[str] = set()
        for _ in range(TRIES):  # a thread that changes state under us is looked at again
            status = await self._status(workflow_id)
            if status is None:  # gone from Temporal (retention): nothing of them left there
                return Forgotten()
            if status == WorkflowExecutionStatus.RUNNING:
                moved = await self._forget_running(workflow_id, address)
                if moved is None:
                    continue  # it had closed
                holding |= moved
                if await self._status(workflow_id) == WorkflowExecutionStatus.COMPLETED:
                    continue  # it completed instead of continuing: its last run named them
                break
            if status == WorkflowExecutionStatus.COMPLETED:
                rewritten = await self._rewrite_completed(workflow_id, forgetting)
                if rewritten is None:
                    continue  # a mail reopened it meanwhile
                holding |= rewritten
                break
            # terminated, failed: no state a reopen would start from; every ended run goes
            runs = await self.erasure.executions_of([workflow_id])
            ended = [run for run in runs if await self._ended(*run)]
            deleted = await self.erasure.delete(ended)
            return Forgotten(deleted, sorted(await self._still_naming(workflow_id, forgetting)))
        else:
            holding.add(workflow_id)  # it kept changing: erase again
        deleted = await self._delete_ended(workflow_id)
        holding |= await self._still_naming(workflow_id, forgetting)
        return Forgotten(runs_deleted=deleted, holding=sorted(holding))

    async def _forget_running(self, workflow_id: str, address: str) -> set[str] | None:
        """The workflows still on their run once the patience ran out; None when the
        thread was not open any more."""
        before = {workflow_id: await self._current_run(workflow_id)}
        before.update(await self._running_flows(workflow_id))
        try:
            await self.gateway.forget_person(workflow_id, address)
        except ThreadNotFound:
            return None
        return await self._until_moved_on(before)

    async def _rewrite_completed(self, workflow_id: str, forgetting: Forgetting) -> set[str] | None:
        """None when the thread is not completed any more (reopened, or gone)."""
        rewritten = await self.gateway.rewrite_completed(workflow_id, forgetting)
        if rewritten is None:
            return None
        handle = self.client.get_workflow_handle(workflow_id, run_id=rewritten)
        try:
            await asyncio.wait_for(handle.result(), self.patience.total_seconds())
        except TimeoutError:  # no thread worker: the new run waits for one
            return {workflow_id}
        return set()

    async def _status(self, workflow_id: str) -> WorkflowExecutionStatus | None:
        try:
            description = await self.client.get_workflow_handle(workflow_id).describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return None
            raise
        return description.status

    async def _running_flows(self, workflow_id: str) -> dict[str, str]:
        literal = quoted(workflow_id)
        query = (
            f"RootWorkflowId = {literal} AND WorkflowId != {literal} "
            "AND ExecutionStatus = 'Running'"
        )
        return {e.id: e.run_id async for e in self.client.list_workflows(query)}

    async def _current_run(self, workflow_id: str) -> str:
        """The run now current (running or, once ended, the last); "" when there is none."""
        try:
            description = await self.client.get_workflow_handle(workflow_id).describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return ""
            raise
        return description.run_id or ""

    async def _until_moved_on(self, before: dict[str, str]) -> set[str]:
        """The workflows still on the run they were on (not continued, not ended) once the
        patience ran out; empty as soon as every one moved on. Each run's close is waited
        for on the server (a long poll of its history for the close event)."""
        closes = {
            workflow_id: asyncio.ensure_future(self._closed(workflow_id, run))
            for workflow_id, run in before.items()
            if run
        }
        if not closes:
            return set()
        _, waiting = await asyncio.wait(closes.values(), timeout=self.patience.total_seconds())
        for close in waiting:
            close.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)
        for close in closes.values():
            if close not in waiting:
                close.result()  # an error other than the run's own end is raised
        return {workflow_id for workflow_id, close in closes.items() if close in waiting}

    async def _closed(self, workflow_id: str, run_id: str) -> None:
        """Returns once this run has ended: completed, continued as new, or otherwise."""
        handle = self.client.get_workflow_handle(workflow_id, run_id=run_id)
        try:
            await handle.result(follow_runs=False)
        except (WorkflowContinuedAsNewError, WorkflowFailureError):
            return
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise

    async def _ended(self, workflow_id: str, run_id: str) -> bool:
        handle = self.client.get_workflow_handle(workflow_id, run_id=run_id)
        try:
            description = await handle.describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return True
            raise
        return description.status != WorkflowExecutionStatus.RUNNING

    async def _delete_ended(self, workflow_id: str) -> int:
        """Every run of the thread and its flows that has ended, checked one by one (a run
        still going is never deleted; visibility lags: a run just continued may still be
        listed as running), but the thread's current run, which a reopen starts from."""
        current = (workflow_id, await self._current_run(workflow_id))
        listed = set(await self.erasure.executions_of([workflow_id])) - {current}
        ended = [run for run in sorted(listed) if await self._ended(*run)]
        return await self.erasure.delete(ended)

    async def _still_naming(self, workflow_id: str, forgetting: Forgetting) -> set[str]:
        """The thread and flows whose current run still names the person (each flow's
        run asked of the server: visibility may still list a run just continued)."""
        flows = sorted(await self._running_flows(workflow_id))
        naming = set()
        for current in (workflow_id, *flows):
            run = await self._current_run(current)
            if run and await self._names((current, run), forgetting):
                naming.add(current)
        return naming

    async def _names(self, run: Run, forgetting: Forgetting) -> bool:
        try:
            async for value in recorded_values(self.client, *run):
                if forgetting.names_anywhere(value):
                    return True
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
        return False
