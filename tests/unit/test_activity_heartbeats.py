"""The agent call over HTTP and the send to an SMTP relay heartbeat while the other side
keeps them waiting: each endpoint here answers only after it saw the activity heartbeat."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from temporalio.testing import ActivityEnvironment

from activities.agents import AgentActivities
from activities.email import EmailActivities
from adapters.agents.openai_compat import OpenAICompatibleAgent
from adapters.outbound.smtp_sender import SentLog, SmtpRelaySender
from tests.support import free_port
from use_cases.flows import ClassifyRequest
from use_cases.mail import OutboundEmail

BEATS = 3
WAIT_SECONDS = 10.0


class Beats:
    """Counts an activity's heartbeats; `enough` is set after BEATS of them."""

    def __init__(self) -> None:
        self.count = 0
        self.enough = threading.Event()

    def __call__(self, *details: Any) -> None:
        self.count += 1
        if self.count >= BEATS:
            self.enough.set()


@pytest.fixture
def beats() -> Beats:
    return Beats()


@pytest.fixture
def env(beats: Beats) -> ActivityEnvironment:
    environment = ActivityEnvironment()
    # 50 ms: a beat every 10 ms (activities/heartbeat.py)
    environment.info = dataclasses.replace(
        environment.info, heartbeat_timeout=timedelta(milliseconds=50)
    )
    environment.on_heartbeat = beats
    return environment


@pytest.fixture
def agent_url(beats: Beats) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            beats.enough.wait(WAIT_SECONDS)
            content = json.dumps({"flow": "support", "confidence": 0.9})
            data = json.dumps({"choices": [{"message": {"content": content}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    beats.enough.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def relay_port(beats: Beats) -> Iterator[int]:
    class SlowRelay:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            await asyncio.to_thread(beats.enough.wait, WAIT_SECONDS)
            return "250 2.0.0 OK"

    controller = Controller(SlowRelay(), hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller.port
    beats.enough.set()
    controller.stop()


async def test_an_agent_call_over_http_heartbeats_while_it_waits(
    env: ActivityEnvironment, beats: Beats, agent_url: str
) -> None:
    agent = AgentActivities(OpenAICompatibleAgent(agent_url, "m"))
    request = ClassifyRequest(mailbox="support@x", subject="Printer", text="It is on fire")
    classification = await env.run(agent.classify, request)
    assert classification.flow == "support" and beats.count >= BEATS


async def test_a_send_to_the_relay_heartbeats_while_it_waits(
    env: ActivityEnvironment, beats: Beats, relay_port: int, tmp_path: Path
) -> None:
    sender = SmtpRelaySender("127.0.0.1", relay_port, SentLog(tmp_path / "sent.sqlite"))
    mail = OutboundEmail(
        message_id="<slow@mailroom.local>",
        from_addr="support@mailroom.local",
        to=("customer@example.com",),
        subject="Re: Printer",
        text="We are on it.\n",
    )
    result = await env.run(EmailActivities(sender).send_email, mail)
    assert not result.already_sent and beats.count >= BEATS
