"""`mailroom up` with OTEL_EXPORTER_OTLP_ENDPOINT set exports one mail's trace over OTLP/HTTP:
from the SMTP span to the reply sent, one trace, every span's parent in it."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tests.conftest import FIXTURES
from tests.integration.test_up import mailroom_up, stop
from tests.otlp_collector import Collected, otlp_collector
from tests.stack import send_mail
from tests.support import free_port, wait_for

pytestmark = pytest.mark.slow


def trace_of(collector: Collected, root_name: str, last_name: str) -> list[Span] | None:
    """The spans of the trace rooted at `root_name`, once `last_name` is among them."""
    spans = [span for _, span in collector.spans()]
    root = next((s for s in spans if s.name == root_name), None)
    if root is None:
        return None
    in_trace = [s for s in spans if s.trace_id == root.trace_id]
    return in_trace if any(s.name == last_name for s in in_trace) else None


async def test_mailroom_up_exports_one_trace_per_mail_to_the_otlp_endpoint(
    tmp_path: Path,
) -> None:
    smtp_port = free_port()
    question = (FIXTURES / "support_question.eml").read_bytes()
    with otlp_collector() as collector:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("MAILROOM_", "OTEL_"))},
            "MAILROOM_DATA_DIR": str(tmp_path / "data"),
            "MAILROOM_TEMPORAL_PORT": str(free_port()),
            "MAILROOM_TEMPORAL_UI_PORT": str(free_port()),
            "MAILROOM_METRICS_ADDRESS": "off",
            "MAILROOM_SMTP_PORT": str(smtp_port),
            "MAILROOM_ACK_DELAY": "0",
            "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url,
            "OTEL_BSP_SCHEDULE_DELAY": "100",  # ms: the batch goes out soon after the reply
        }
        async with mailroom_up(env) as up:
            await asyncio.to_thread(
                send_mail, smtp_port, question, ["support@mailroom.local"], "alice@example.com"
            )
            spans = await wait_for(
                lambda: trace_of(collector, "smtp.receive", "outbox.write"),
                what="the mail's trace, down to the reply sent",
            )
            assert await stop(up) == 0
    names = {s.name for s in spans}
    assert {"SignalWithStartWorkflow:ThreadWorkflow", "RunActivity:send_email"} <= names
    ids = {s.span_id for s in spans}
    assert [s.name for s in spans if not s.parent_span_id] == ["smtp.receive"]
    assert all(s.parent_span_id in ids for s in spans if s.parent_span_id)
    services = {resource["service.name"] for resource, _ in collector.spans()}
    assert services == {"mailroom"}


async def test_the_last_spans_are_exported_when_mailroom_up_and_its_workers_stop(
    tmp_path: Path,
) -> None:
    """The batch processor would export in ten minutes: the spans reach the collector only
    if each process (the parent and its two worker children) flushes them when stopped."""
    smtp_port = free_port()
    question = (FIXTURES / "support_question.eml").read_bytes()
    with otlp_collector() as collector:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("MAILROOM_", "OTEL_"))},
            "MAILROOM_DATA_DIR": str(tmp_path / "data"),
            "MAILROOM_TEMPORAL_PORT": str(free_port()),
            "MAILROOM_TEMPORAL_UI_PORT": str(free_port()),
            "MAILROOM_METRICS_ADDRESS": "off",
            "MAILROOM_SMTP_PORT": str(smtp_port),
            "MAILROOM_ACK_DELAY": "0",
            "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url,
            "OTEL_BSP_SCHEDULE_DELAY": "600000",  # ms: nothing goes out before the stop
        }
        outbox = tmp_path / "data" / "outbox"
        async with mailroom_up(env, "--workers", "2") as up:
            await asyncio.to_thread(
                send_mail, smtp_port, question, ["support@mailroom.local"], "alice@example.com"
            )
            await wait_for(
                lambda: list(outbox.glob("new/*.eml")) or None, what="the reply in the outbox"
            )
            assert collector.posts == [], "exported before the stop: the test proves nothing"
            assert await stop(up) == 0
        spans = trace_of(collector, "smtp.receive", "outbox.write")
    assert spans is not None, (
        f"spans lost at the stop: {sorted({s.name for _, s in collector.spans()})}"
    )
    assert "RunActivity:send_email" in {s.name for s in spans}
