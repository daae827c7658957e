"""SIGKILL of the worker in the middle of an agent call over HTTP (the OpenAI-compatible
agent pointed at a local endpoint that holds the first request open). The call heartbeats,
so the server sees the dead worker within the heartbeat timeout and retries the call on the
second worker, instead of after the call's whole start-to-close timeout."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.faults.deployment import Deployment
from tests.faults.mta import Mail, SendingMta, raw_mail
from tests.support import wait_for
from use_cases.threading import workflow_id_for
from workflows.agent_calls import AGENT_HEARTBEAT_TIMEOUT, AGENT_TIMEOUT

pytestmark = pytest.mark.slow

SUPPORT = "support@mailroom.local"
# One answer fits every question the agent is asked (pydantic ignores the other fields): the
# mail is support, triaged, and no article answers it, so a person takes over.
ANSWER = json.dumps(
    {"flow": "support", "confidence": 0.9, "category": "technical", "priority": "normal"}
)
# A killed worker's workflow task waits out its sticky queue's schedule-to-start timeout
# (the SDK's default, 10 s) before another worker takes it, then the flow starts.
STICKY_TIMEOUT = 10.0
MARGIN = 10.0


class HeldEndpoint:
    """An OpenAI-compatible endpoint that never answers its first request and answers every
    later one at once; it notes when each request arrived."""

    def __init__(self) -> None:
        self.arrivals: list[float] = []
        self.released = threading.Event()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                endpoint.arrivals.append(time.monotonic())
                if len(endpoint.arrivals) == 1:
                    endpoint.released.wait(timeout=120)
                    return
                reply = {"choices": [{"message": {"role": "assistant", "content": ANSWER}}]}
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def start(self) -> None:
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()

    def stop(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint() -> Iterator[HeldEndpoint]:
    held = HeldEndpoint()
    held.start()
    try:
        yield held
    finally:
        held.stop()


@pytest.fixture
def agent_deployment(tmp_path: Path, tag: str, endpoint: HeldEndpoint) -> Iterator[Deployment]:
    running = Deployment(
        tmp_path, tag, MAILROOM_AGENT_URL=endpoint.url, MAILROOM_AGENT_MODEL="stand-in"
    )
    try:
        yield running
    finally:
        running.stop()


def support_mail(tag: str) -> Mail:
    message_id = f"<printer-{tag}@example.com>"
    raw = raw_mail(
        sender="<customer@example.com>",
        to=SUPPORT,
        subject="Printer",
        message_id=message_id,
        body="My printer prints nothing at all.\r\n",
    )
    thread_id = workflow_id_for(SUPPORT, message_id)
    return Mail(message_id, thread_id, "customer@example.com", raw, to=SUPPORT)


async def test_a_killed_workers_agent_call_is_retried_elsewhere_within_seconds(
    agent_deployment: Deployment, endpoint: HeldEndpoint
) -> None:
    deployment = agent_deployment
    await deployment.start_temporal()
    first_worker = await deployment.start_worker()
    await deployment.start_smtp()
    mail = support_mail(deployment.tag)
    mta = SendingMta(deployment.smtp_port, [mail], rate=1)
    mta.start()
    try:
        await wait_for(lambda: endpoint.arrivals, timeout=60, what="the agent call")
        await deployment.start_worker()
        first_worker.kill()
        killed_at = time.monotonic()
        await wait_for(
            lambda: len(endpoint.arrivals) >= 2,
            timeout=AGENT_TIMEOUT.total_seconds(),
            what="the agent call retried",
        )
        retried_after = endpoint.arrivals[1] - killed_at
        await wait_for(
            lambda: _routed(deployment, mail.thread_id),
            timeout=AGENT_HEARTBEAT_TIMEOUT.total_seconds() + STICKY_TIMEOUT + MARGIN,
            what="the thread routed to support",
        )
        routed_after = time.monotonic() - killed_at
    finally:
        mta.stop()
    print(
        f"agent call retried {retried_after:.1f}s after the SIGKILL, thread routed after "
        f"{routed_after:.1f}s (heartbeat timeout {AGENT_HEARTBEAT_TIMEOUT.total_seconds():g}s, "
        f"start-to-close {AGENT_TIMEOUT.total_seconds():g}s)"
    )
    assert retried_after < AGENT_TIMEOUT.total_seconds() / 2
    assert retried_after < AGENT_HEARTBEAT_TIMEOUT.total_seconds() + MARGIN


async def _routed(deployment: Deployment, thread_id: str) -> bool:
    state = await deployment.gateway.get(thread_id)
    return state.flow == "support"
