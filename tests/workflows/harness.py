"""A thread under the time-skipping server: real workflows and activities, fake sender."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from adapters.inbound.reply_text import reply_text
from adapters.outbound.temporal_gateway import TemporalThreadGateway
from orchestrator.bootstrap import (
    Wiring,
    bootstrap,
    routing_activity,
    thread_worker,
    with_each_once,
    worker_activities,
)
from orchestrator.flow_workers import flow_settings, flow_worker
from orchestrator.settings import Settings
from orchestrator.workflow_runner import WORKFLOW_INTERCEPTORS, WORKFLOW_RUNNER
from tests.fakes import FakeEmailSender
from use_cases.flows import FlowConfig
from use_cases.mail import OutboundEmail
from use_cases.models import NewMessage, ThreadKey, ThreadState
from use_cases.threading import workflow_id_for
from workflows.messages import NEW_MESSAGE, NEW_MESSAGES
from workflows.thread import ThreadWorkflow


class Harness:
    def __init__(
        self,
        env: WorkflowEnvironment,
        gateway: TemporalThreadGateway,
        sender: FakeEmailSender,
        mailbox: str,
        settings: Settings,
    ) -> None:
        self.env = env
        self.gateway = gateway
        self.sender = sender
        self.mailbox = mailbox
        self.settings = settings
        self.root = f"<root-{uuid.uuid4().hex}@example.com>"
        self.key = ThreadKey(
            mailbox=mailbox,
            key=self.root,
            rule="test",
            workflow_id=workflow_id_for(mailbox, self.root),
        )

    @property
    def thread_id(self) -> str:
        return self.key.workflow_id

    def message(self, n: int, **fields: object) -> NewMessage:
        own_id = self.root if n == 0 else f"<m{n}-{self.root[1:]}"
        values: dict[str, object] = {
            "mailbox": self.mailbox,
            "message_id": own_id,
            "from_addr": "alice@example.com",
            "to": (self.mailbox,),
            "subject": "Lunch on Friday",
            "references": () if n == 0 else (self.root,),
            "received_at": datetime(2026, 11, 21, tzinfo=UTC),
            **fields,
        }
        # as the MIME parser does: what the sender wrote in this mail, quotes cut
        values.setdefault("new_text", reply_text(str(values.get("text", ""))))
        return NewMessage.model_validate(values)

    async def send(self, n: int, **fields: object) -> NewMessage:
        message = self.message(n, **fields)
        await self.gateway.new_message(self.key, message)
        return message

    async def state(self) -> ThreadState:
        return await self.gateway.get(self.key.workflow_id)

    async def has_messages(self, count: int) -> ThreadState | None:
        state = await self.state()
        return state if state.message_count >= count else None

    async def at_stage(self, stage: str) -> ThreadState | None:
        state = await self.state()
        return state if state.stage == stage else None

    def mails(self, purpose: str) -> list[OutboundEmail]:
        """Mails sent for one purpose: flow mail Message-IDs start with <flow-n-purpose-."""
        return [m for m in self.sender.sent if f"-{purpose}-" in m.message_id]


@asynccontextmanager
async def thread_harness(
    env: WorkflowEnvironment,
    task_queue: str,
    tmp_path: Path,
    *,
    mailbox: str,
    flow_config: FlowConfig | None = None,
    messages_per_run: int = 500,
    agent: object = None,
    thread_activities: Sequence[Callable[..., Any]] = (),
    **settings_fields: object,
) -> AsyncIterator[Harness]:
    """`thread_activities` replace the thread worker's activities of the same names."""
    sender = FakeEmailSender()
    settings = Settings.model_validate(
        {
            "data_dir": tmp_path,
            "task_queue": task_queue,
            "queue_prefix": f"{task_queue}-",  # each test's flows on queues of their own
            "temporal_address": "unused:1",
            **settings_fields,
        }
    )
    wiring = bootstrap(
        settings,
        sender=sender,
        flow_config=flow_config or FlowConfig(),  # the flows' workers have what the test set
        **({"agent": agent} if agent else {}),
    )
    gateway = TemporalThreadGateway(
        env.client,
        task_queue=task_queue,
        messages_per_run=messages_per_run,
        flow_config=flow_config or FlowConfig(),
    )
    async with AsyncExitStack() as workers:
        await workers.enter_async_context(_thread_worker(wiring, env.client, thread_activities))
        for spec in wiring.flows:
            worker = flow_worker(wiring, env.client, spec, flow_settings(spec))
            await workers.enter_async_context(worker)
        yield Harness(env, gateway, sender, mailbox, settings)


def _thread_worker(
    wiring: Wiring, client: Client, replacing: Sequence[Callable[..., Any]]
) -> Worker:
    if not replacing:
        return thread_worker(wiring, client)
    flows = [a for spec in wiring.flows for a in spec.activities(wiring, client)]
    every = [*worker_activities(wiring, client), routing_activity(wiring), *flows]
    return Worker(
        client,
        task_queue=wiring.settings.task_queue,
        workflows=[ThreadWorkflow],
        activities=with_each_once([*replacing, *every]),  # the first of each name
        workflow_runner=WORKFLOW_RUNNER,
        interceptors=WORKFLOW_INTERCEPTORS,
    )


def local_activities(history: WorkflowHistory) -> list[str]:
    """The activity types of the run's local activities, in order (the core's markers)."""
    found = []
    for event in history.events:
        marker = event.marker_recorded_event_attributes
        marked = event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
        if marked and marker.marker_name == "core_local_activity":
            found.append(json.loads(marker.details["data"].payloads[0].data)["activity_type"])
    return found


def mail_to_child(history: WorkflowHistory) -> list[str]:
    """The Message-IDs a child flow was given, in order: with its start (FlowStart.queued,
    history format 4), then by NEW_MESSAGE and NEW_MESSAGES signals."""
    given: list[str] = []
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            start = event.workflow_execution_started_event_attributes.input.payloads[0]
            given += [m["message_id"] for m in json.loads(start.data).get("queued", [])]
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            signal = event.workflow_execution_signaled_event_attributes
            if signal.signal_name == NEW_MESSAGES:
                data = json.loads(signal.input.payloads[0].data)
                given += [m["message_id"] for m in data]
            elif signal.signal_name == NEW_MESSAGE:
                given.append(json.loads(signal.input.payloads[0].data)["message_id"])
    return given


def signal_names(history: WorkflowHistory) -> list[str]:
    """The names of the signals the run received, in order."""
    return [
        event.workflow_execution_signaled_event_attributes.signal_name
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    ]
