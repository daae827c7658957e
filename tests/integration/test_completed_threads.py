"""Mail to a completed thread, on the real dev server: a redelivery of mail it already has
is dropped by the gateway; anything else reopens it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from temporalio.testing import WorkflowEnvironment

from adapters.outbound.metrics import PrometheusMetrics
from tests.support import wait_for
from tests.workflows.harness import Harness, thread_harness
from use_cases.flows import FlowConfig
from use_cases.models import CompleteRequest, ThreadState, ThreadStatus


@pytest.fixture
async def harness(
    dev_server: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> AsyncIterator[Harness]:
    async with thread_harness(
        dev_server,
        task_queue,
        tmp_path,
        mailbox="info@mailroom.local",
        flow_config=FlowConfig(ack_delay=timedelta(0)),
    ) as h:
        yield h


async def _completed(h: Harness) -> ThreadState | None:
    state = await h.state()
    return state if state.status is ThreadStatus.COMPLETED else None


async def _complete_with_two_mails(h: Harness) -> None:
    await h.send(0, content_digest="d0")
    await h.send(1, content_digest="d1")
    await wait_for(lambda: h.has_messages(2), what="both mails")
    await h.gateway.complete(h.thread_id, CompleteRequest(reason="solved"))
    await wait_for(lambda: _completed(h), what="the completed thread")


async def _runs(h: Harness) -> int:
    query = f"WorkflowId = '{h.thread_id}'"
    return len([e async for e in h.env.client.list_workflows(query)])


async def test_a_redelivery_never_reopens_a_completed_thread(harness: Harness) -> None:
    await _complete_with_two_mails(harness)
    registry = CollectorRegistry()
    harness.gateway.metrics = PrometheusMetrics(registry)
    await harness.send(1, content_digest="d1")  # an IMAP re-fetch, an MTA's retry
    await harness.send(0)  # one parsed before digests existed
    dropped = registry.get_sample_value("mailroom_duplicates_dropped_total", {"where": "intake"})
    assert dropped == 2, "both counted as duplicates dropped at intake"
    state = await harness.state()
    assert (state.status, state.completed_reason, state.reopened) == (
        ThreadStatus.COMPLETED,
        "solved",
        0,
    )
    assert await _runs(harness) == 1, "no run was started for the duplicates"


async def test_other_mail_under_a_known_message_id_reopens_the_thread(harness: Harness) -> None:
    await _complete_with_two_mails(harness)
    await harness.send(1, content_digest="d-other", text="not the same mail")
    state = await wait_for(lambda: harness.has_messages(3), what="the reopened thread")
    assert state.status is ThreadStatus.OPEN and state.reopened == 1
    assert state.message_id_collisions == 1


async def test_a_new_mail_reopens_the_completed_thread(harness: Harness) -> None:
    await _complete_with_two_mails(harness)
    await harness.send(2, content_digest="d2")
    state = await wait_for(lambda: harness.has_messages(3), what="the reopened thread")
    assert state.status is ThreadStatus.OPEN and state.reopened == 1
