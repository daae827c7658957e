"""One mail, one trace (issue 21 item 3): a mail sent over real SMTP to mailroom's SMTP
adapter (or fetched from a real Dovecot by the IMAP adapter), handed to a worker on the test
Temporal server, yields one connected trace from the adapter's span to the activity sending
the reply, as an in-memory exporter records it."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from orchestrator.tracing import client_interceptors
from tests.conftest import FIXTURES
from tests.dovecot import Dovecot
from tests.integration.imap_support import MAILBOX, imap_stack, mail
from tests.span_recorder import recorded_spans
from tests.stack import Stack, running_stack, stack_settings
from tests.support import wait_for

SUPPORT = "support@mailroom.local"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """The process's tracer provider, as orchestrator/tracing.py installs one, recording in
    memory for this test."""
    with recorded_spans() as exporter:
        yield exporter


@pytest.fixture
def traced_client(spans: InMemorySpanExporter, dev_server: WorkflowEnvironment) -> Client:
    """The client as orchestrator/bootstrap.connect makes it with tracing on: the worker and
    the adapters made from it inherit its interceptor."""
    config = dev_server.client.config()
    config["interceptors"] = client_interceptors()
    return Client(**config)


@pytest.fixture
async def traced_stack(
    traced_client: Client, tmp_path: Path, task_queue: str
) -> AsyncIterator[Stack]:
    settings = stack_settings(tmp_path, traced_client, task_queue)
    async with running_stack(traced_client, settings) as running:
        yield running


def root_named(spans: InMemorySpanExporter, name: str) -> ReadableSpan | None:
    return next((s for s in spans.get_finished_spans() if s.name == name), None)


def in_trace(spans: InMemorySpanExporter, root: ReadableSpan) -> list[ReadableSpan]:
    assert root.context is not None
    return [
        s
        for s in spans.get_finished_spans()
        if s.context is not None and s.context.trace_id == root.context.trace_id
    ]


def assert_connected(trace_spans: list[ReadableSpan], root: ReadableSpan) -> None:
    """Every span but the root has its parent in the trace: one tree, no orphan."""
    ids = {s.context.span_id for s in trace_spans if s.context is not None}
    orphans = [s.name for s in trace_spans if s is not root and s.parent is None]
    assert orphans == []
    strays = [s.name for s in trace_spans if s.parent is not None and s.parent.span_id not in ids]
    assert strays == []


def named(trace_spans: list[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [s for s in trace_spans if s.name == name]


async def test_one_mail_over_smtp_yields_one_trace_from_smtp_to_the_reply_sent(
    traced_stack: Stack, spans: InMemorySpanExporter, unique: str
) -> None:
    raw = (FIXTURES / "support_question.eml").read_bytes()
    raw = re.sub(rb"<(question-\d+)@", rb"<\1-" + unique.encode() + rb"@", raw)
    await traced_stack.send(raw, [SUPPORT])

    root = await wait_for(lambda: root_named(spans, "smtp.receive"), what="the SMTP span")
    # The reply (the acknowledgement, acknowledged at once here) sent by its activity.
    await wait_for(
        lambda: named(in_trace(spans, root), "outbox.write"), what="the reply sent, traced"
    )
    trace_spans = in_trace(spans, root)
    names = {s.name for s in trace_spans}
    assert root.parent is None
    assert {
        "SignalWithStartWorkflow:ThreadWorkflow",
        "RunWorkflow:ThreadWorkflow",
        "StartActivity:send_email",
        "RunActivity:send_email",
        "outbox.write",
    } <= names, names
    assert_connected(trace_spans, root)
    # The hand-off happened inside the SMTP span; no address or subject in its attributes.
    [handoff] = named(trace_spans, "SignalWithStartWorkflow:ThreadWorkflow")
    assert handoff.parent is not None and root.context is not None
    assert handoff.parent.span_id == root.context.span_id
    assert dict(root.attributes or {}) == {
        "smtp.recipients": 1,
        "smtp.message.size": len(re.sub(rb"\r?\n", b"\r\n", raw)),
        "smtp.reply.code": 250,
        "smtp.reply.enhanced_code": "2.0.0",
    }


async def test_a_child_flow_and_its_activities_join_the_trace_of_the_mail_that_started_it(
    traced_stack: Stack, spans: InMemorySpanExporter, unique: str
) -> None:
    raw = (FIXTURES / "rfq.eml").read_bytes().replace(b"<rfq-20", b"<rfq-" + unique.encode())
    await traced_stack.send(raw, ["procurement@mailroom.local"])

    root = await wait_for(lambda: root_named(spans, "smtp.receive"), what="the SMTP span")
    # Procurement runs as a child workflow on its own queue and worker.
    await wait_for(
        lambda: named(in_trace(spans, root), "RunActivity:check_policy"),
        what="the child flow's activity, traced",
    )
    trace_spans = in_trace(spans, root)
    names = {s.name for s in trace_spans}
    assert {"StartChildWorkflow:ProcurementFlow", "RunWorkflow:ProcurementFlow"} <= names, names
    assert_connected(trace_spans, root)


async def test_a_mail_fetched_over_imap_yields_one_trace_from_its_fetch_to_the_reply_sent(
    traced_client: Client,
    spans: InMemorySpanExporter,
    dovecot: Dovecot,
    task_queue: str,
    tmp_path: Path,
) -> None:
    _, raw = mail("Printer on fire")
    dovecot.append(raw)
    url = dovecot.url(mailbox=MAILBOX, start="all")
    async with imap_stack(traced_client, tmp_path, task_queue, url):
        root = await wait_for(lambda: root_named(spans, "imap.mail"), what="the IMAP span")
        await wait_for(
            lambda: named(in_trace(spans, root), "outbox.write"), what="the reply sent, traced"
        )
    trace_spans = in_trace(spans, root)
    assert root.parent is None
    assert "RunWorkflow:ThreadWorkflow" in {s.name for s in trace_spans}
    assert_connected(trace_spans, root)
    assert (root.attributes or {})["imap.handed_off"] is True


class TraceOfRecords(logging.Handler):
    """Each record's message and the trace current while it was emitted: what the log
    processor `add_trace_ids` reads for the line's `trace_id`."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.seen: list[tuple[str, int]] = []

    def emit(self, record: logging.LogRecord) -> None:
        context = trace.get_current_span().get_span_context()
        self.seen.append((record.getMessage(), context.trace_id if context.is_valid else 0))


@pytest.fixture
def workflow_records() -> Iterator[TraceOfRecords]:
    handler = TraceOfRecords()
    logger = logging.getLogger("temporalio.workflow")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


async def test_a_workflows_log_line_carries_the_trace_id_of_the_mail_it_handles(
    traced_stack: Stack,
    spans: InMemorySpanExporter,
    workflow_records: TraceOfRecords,
    unique: str,
) -> None:
    raw = (FIXTURES / "auto_reply.eml").read_bytes().replace(b"<ooo-1@", f"<ooo-{unique}@".encode())
    await traced_stack.send(raw, [SUPPORT])

    root = await wait_for(lambda: root_named(spans, "smtp.receive"), what="the SMTP span")
    [(_, trace_id)] = await wait_for(
        lambda: [r for r in workflow_records.seen if "not answering automatic mail" in r[0]],
        what="the thread's line about the automatic mail",
    )
    assert root.context is not None
    assert trace_id == root.context.trace_id
