"""ThreadGateway on Temporal: signal-with-start, queries, and thread listing."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import structlog
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryReverseRequest
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryFailedError,
)
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from adapters.concurrently import every
from use_cases.flow_history import may_lag, with_unreported_stages
from use_cases.flows import ApprovalDecision
from use_cases.forgetting import Forgetting
from use_cases.models import (
    CompleteRequest,
    FlowConfig,
    FlowProgress,
    HumanReply,
    NewMessage,
    ThreadInput,
    ThreadKey,
    ThreadState,
    ThreadStatus,
)
from use_cases.ports import (
    Backpressure,
    HandoffFailed,
    IntakeMetrics,
    NoMetrics,
    NothingToDecide,
    ThreadNotFound,
)
from use_cases.thread_labels import thread_details, thread_summary
from workflows.flow import MAX_HISTORY
from workflows.messages import (
    APPROVE,
    COMPLETE_THREAD,
    FLOW_PROGRESS_QUERY,
    FORGET_PERSON,
    HUMAN_REPLY,
    NEW_MESSAGE,
    REJECT,
)
from workflows.search_attributes import forgotten_attributes, thread_identity
from workflows.thread import TASK_QUEUE, ThreadWorkflow
from workflows.versions import HISTORY_FORMAT

log = structlog.get_logger()

# Past this, the SMTP adapter answers 451 and the sending server retries: better than
# holding the client while Temporal is unreachable.
HANDOFF_TIMEOUT = timedelta(seconds=10)
QUERY_TIMEOUT = timedelta(seconds=10)
# A child flow's own progress adds only its latest stages to a thread's view: a flow worker
# that does not answer soon leaves the thread shown as it has heard from the flow.
CHILD_QUERY_TIMEOUT = timedelta(seconds=2)
LIST_CONCURRENCY = 16
LISTED_STATUSES = (
    WorkflowExecutionStatus.RUNNING,
    WorkflowExecutionStatus.COMPLETED,
    WorkflowExecutionStatus.TERMINATED,  # `mailroom stop --terminate`: listed as completed
)
# Temporal out of reach, as each client call reports it: an RPC error, a lazy client's failed
# first connect (RuntimeError "Failed client connect"), a timeout. Never the mail's fault: the
# adapters retry it (SMTP 451, IMAP backoff), so it must never look like an error in the mail.
UNREACHABLE = (RPCError, RuntimeError, TimeoutError)


class TemporalThreadGateway:
    def __init__(
        self,
        client: Client,
        *,
        task_queue: str = TASK_QUEUE,
        messages_per_run: int = 0,
        handoff_timeout: timedelta = HANDOFF_TIMEOUT,
        flow_config: FlowConfig | None = None,
        history_format: int = HISTORY_FORMAT,
        backlog: Backpressure | None = None,
        metrics: IntakeMetrics | None = None,
    ) -> None:
        # the format of the threads this gateway starts (MAILROOM_HISTORY_FORMAT): a thread
        # keeps it through continue-as-new, and its flows take it (workflows/versions.py)
        self.history_format = history_format
        self.metrics: IntakeMetrics = metrics or NoMetrics()
        self.backlog = backlog
        self.flow_config = flow_config or FlowConfig()
        self.client = client
        self.task_queue = task_queue
        self.messages_per_run = messages_per_run
        self.handoff_timeout = handoff_timeout

    async def new_message(self, key: ThreadKey, message: NewMessage) -> None:
        try:
            try:
                # REJECT_DUPLICATE: a signal-with-start to a *completed* thread must not
                # silently start a blank run (Temporal's default); we reopen it instead.
                await self._signal_with_start(
                    key, message, None, WorkflowIDReusePolicy.REJECT_DUPLICATE
                )
            except WorkflowAlreadyStartedError:
                previous = await self._closed_state(key.workflow_id)
                if previous is not None and already_has(previous, message):
                    log.info(
                        "duplicate_of_completed_thread",
                        thread_id=key.workflow_id,
                        message_id=message.message_id,
                    )
                    self.metrics.duplicate_dropped("intake")
                    return
                log.info(
                    "thread_reopened", thread_id=key.workflow_id, message_id=message.message_id
                )
                await self._signal_with_start(
                    key, message, previous, WorkflowIDReusePolicy.ALLOW_DUPLICATE
                )
        except UNREACHABLE as exc:
            raise HandoffFailed(f"Temporal did not accept the message: {exc}") from exc
        if self.backlog is not None:
            self.backlog.handed_off(key.workflow_id)

    async def _signal_with_start(
        self,
        key: ThreadKey,
        message: NewMessage,
        state: ThreadState | None,
        reuse: WorkflowIDReusePolicy,
    ) -> None:
        thread_input = ThreadInput(
            thread_id=key.workflow_id,
            mailbox=key.mailbox,
            state=state,
            messages_per_run=self.messages_per_run,
            flow_config=self.flow_config,
            history_format=self.history_format,
        )
        await self.client.start_workflow(
            ThreadWorkflow.run,
            thread_input,
            id=key.workflow_id,
            task_queue=self.task_queue,
            start_signal=NEW_MESSAGE,
            start_signal_args=[message],
            id_reuse_policy=reuse,
            rpc_timeout=self.handoff_timeout,
            # What the Web UI shows of the thread without opening it. A signal-with-start to a
            # running thread ignores start options: the summary stays the first mail's.
            static_summary=thread_summary(
                (state.subject if state else "") or message.subject,
                state.requester if state and state.requester else message.from_addr,
            ),
            static_details=thread_details(
                key.mailbox,
                key.workflow_id,
                state.message_ids[0] if state and state.message_ids else message.message_id,
            ),
        )

    async def _closed_state(self, workflow_id: str) -> ThreadState | None:
        handle = self.client.get_workflow_handle_for(ThreadWorkflow.run, workflow_id)
        description = await handle.describe(rpc_timeout=QUERY_TIMEOUT)
        if description.status == WorkflowExecutionStatus.COMPLETED:
            return await handle.result(rpc_timeout=QUERY_TIMEOUT)
        log.warning(
            "thread_restarted_without_state",
            thread_id=workflow_id,
            previous_status=str(description.status),
        )
        return None

    async def complete(self, thread_id: str, request: CompleteRequest) -> None:
        await self._signal(thread_id, COMPLETE_THREAD, request)

    async def reply(self, thread_id: str, reply: HumanReply) -> None:
        """HUMAN_REPLY to the thread: sent to the customer once, by its Message-ID."""
        await self._signal(thread_id, HUMAN_REPLY, reply)

    async def decide(self, thread_id: str, decision: ApprovalDecision) -> None:
        """APPROVE / REJECT to the thread, which hands it to its flow if one is waiting."""
        state = await self.get(thread_id)
        if not state.pending_approval:
            raise NothingToDecide(
                f"{thread_id} is not waiting for an approval (stage: {state.stage or 'none'})"
            )
        await self._signal(thread_id, APPROVE if decision.approved else REJECT, decision)

    async def _signal(self, thread_id: str, signal: str, payload: object) -> None:
        """A signal to an open thread; a closed or unknown one is ThreadNotFound, Temporal
        out of reach HandoffFailed (both one line at the CLI)."""
        try:
            await self.client.get_workflow_handle(thread_id).signal(signal, payload)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise ThreadNotFound(f"no open thread {thread_id}") from exc
            raise
        except (RuntimeError, TimeoutError) as exc:
            raise HandoffFailed(f"Temporal did not answer: {exc}") from exc

    async def forget_person(self, thread_id: str, address: str) -> None:
        """FORGET_PERSON (erasure): the open thread and its flow drop the person and
        continue as new without them. ThreadNotFound when the thread is not open."""
        await self._signal(thread_id, FORGET_PERSON, address)

    async def rewrite_completed(self, thread_id: str, forgetting: Forgetting) -> str | None:
        """A completed thread's state written again without the people `forgetting` names,
        in a run that completes at once (ThreadInput.rewrite) and that a later reopen starts
        from: its run id. None when its latest run is not completed (a mail reopened it)
        or is gone."""
        handle = self.client.get_workflow_handle_for(ThreadWorkflow.run, thread_id)
        try:
            description = await handle.describe(rpc_timeout=QUERY_TIMEOUT)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return None  # gone (retention)
            raise
        if description.status != WorkflowExecutionStatus.COMPLETED:
            return None
        state = forgetting.model(await handle.result(rpc_timeout=QUERY_TIMEOUT))
        searchable = self.flow_config.searchable_subjects
        identity = thread_identity(state, searchable_subjects=searchable)
        thread_input = ThreadInput(
            thread_id=thread_id,
            mailbox=state.mailbox,
            state=state,
            messages_per_run=self.messages_per_run,
            flow_config=self.flow_config,
            rewrite=True,
            history_format=self.history_format,
        )
        try:
            rewritten = await self.client.start_workflow(
                ThreadWorkflow.run,
                thread_input,
                id=thread_id,
                task_queue=self.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                rpc_timeout=self.handoff_timeout,
                static_summary=thread_summary(
                    state.subject, state.requester or next(iter(state.participants), "")
                ),
                static_details=thread_details(
                    state.mailbox, thread_id, next(iter(state.message_ids), "")
                ),
                search_attributes=forgotten_attributes(
                    description.typed_search_attributes, forgetting, identity
                ),
            )
        except WorkflowAlreadyStartedError:  # reopened by a mail since
            return None
        return rewritten.result_run_id

    async def is_open(self, thread_id: str) -> bool:
        try:
            description = await self.client.get_workflow_handle(thread_id).describe(
                rpc_timeout=self.handoff_timeout
            )
        except UNREACHABLE as exc:
            if isinstance(exc, RPCError) and exc.status == RPCStatusCode.NOT_FOUND:
                return False
            raise HandoffFailed(f"Temporal did not answer: {exc}") from exc
        return description.status == WorkflowExecutionStatus.RUNNING

    async def get(self, thread_id: str) -> ThreadState:
        handle = self.client.get_workflow_handle_for(ThreadWorkflow.run, thread_id)
        try:
            description = await handle.describe(rpc_timeout=QUERY_TIMEOUT)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise ThreadNotFound(f"no thread {thread_id}") from exc
            raise
        except (RuntimeError, TimeoutError) as exc:
            raise HandoffFailed(f"Temporal did not answer: {exc}") from exc
        state = await self._state_of(handle, description.status)
        if description.status != WorkflowExecutionStatus.RUNNING:
            return state
        return await self._with_child_stages(state)

    async def _with_child_stages(self, state: ThreadState) -> ThreadState:
        """A running child flow's stages since its last report to the thread (it does not
        report a rest that repeats its last one): the thread shown as the flow is now."""
        if not may_lag(state) or not state.flow_workflow_id:
            return state
        child = self.client.get_workflow_handle(state.flow_workflow_id)
        try:
            progress = await child.query(
                FLOW_PROGRESS_QUERY, result_type=FlowProgress, rpc_timeout=CHILD_QUERY_TIMEOUT
            )
        except (RPCError, WorkflowQueryFailedError, TimeoutError):  # gone, or no answer
            return state
        return with_unreported_stages(state, progress, MAX_HISTORY)

    async def _state_of(
        self,
        handle: WorkflowHandle[ThreadWorkflow, ThreadState],
        status: WorkflowExecutionStatus | None,
    ) -> ThreadState:
        if status == WorkflowExecutionStatus.COMPLETED:
            return await handle.result(rpc_timeout=QUERY_TIMEOUT)
        state = await handle.query(ThreadWorkflow.thread_state, rpc_timeout=QUERY_TIMEOUT)
        if status == WorkflowExecutionStatus.TERMINATED:  # its last state, then ended
            why = await self._termination_reason(handle.id)
            return state.model_copy(
                update={"status": ThreadStatus.COMPLETED, "completed_reason": why}
            )
        return state

    async def _termination_reason(self, workflow_id: str) -> str:
        """ "terminated: <the reason given>", from the run's last history event."""
        request = GetWorkflowExecutionHistoryReverseRequest(
            namespace=self.client.namespace,
            execution=WorkflowExecution(workflow_id=workflow_id),
            maximum_page_size=1,
        )
        reply = await self.client.workflow_service.get_workflow_execution_history_reverse(
            request, timeout=QUERY_TIMEOUT
        )
        events = reply.history.events
        given = events[0].workflow_execution_terminated_event_attributes.reason if events else ""
        return f"terminated: {given}" if given else "terminated"

    async def thread_ids(self) -> list[str]:
        """Every thread's id, whatever its status (a terminated or failed one too), from
        visibility alone (no query per thread): what the CLI matches a prefix or a ticket
        reference against, so a name unique among the listed threads is not taken for one
        that also fits a thread `list` leaves out."""
        return sorted(await self._latest_runs(statuses=()))

    async def _latest_runs(
        self, statuses: tuple[WorkflowExecutionStatus, ...] = LISTED_STATUSES
    ) -> dict[str, WorkflowExecutionStatus | None]:
        """{workflow id: status of its latest run} of the thread workflows on our queue, of
        the given statuses (none given: all)."""
        latest: dict[str, tuple[datetime, WorkflowExecutionStatus | None]] = {}
        query = f"WorkflowType = 'ThreadWorkflow' AND TaskQueue = '{self.task_queue}'"
        if statuses:
            either = " OR ".join(f"ExecutionStatus = '{s.name.title()}'" for s in statuses)
            query += f" AND ({either})"
        async for execution in self.client.list_workflows(query):
            seen = latest.get(execution.id)
            if seen is None or execution.start_time > seen[0]:
                latest[execution.id] = (execution.start_time, execution.status)
        return {workflow_id: status for workflow_id, (_, status) in latest.items()}

    async def list(self, status: ThreadStatus | None = None) -> list[ThreadState]:
        latest = await self._latest_runs()
        limit = asyncio.Semaphore(LIST_CONCURRENCY)

        async def state_of(
            workflow_id: str, run_status: WorkflowExecutionStatus | None
        ) -> ThreadState:
            async with limit:
                handle = self.client.get_workflow_handle_for(ThreadWorkflow.run, workflow_id)
                return await self._state_of(handle, run_status)

        states = await every(state_of(w, s) for w, s in latest.items())
        chosen = [s for s in states if status is None or s.status == status]
        return sorted(chosen, key=lambda s: s.thread_id)


def already_has(state: ThreadState, message: NewMessage) -> bool:
    """A redelivery of mail the completed thread applied (an IMAP re-fetch, an MTA's retry
    after a lost 250): the same Message-ID and, where both have one, the same content
    digest. Another mail reusing the id reopens the thread, where it is kept and marked."""
    if message.message_id not in state.message_ids:
        return False
    digests = {m.content_digest for m in state.messages if m.message_id == message.message_id}
    if not message.content_digest or not digests or "" in digests:
        return True
    return message.content_digest in digests
