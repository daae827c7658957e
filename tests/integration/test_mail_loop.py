"""A loop with an auto-responder that hides what it is, over real SMTP: mailroom's replies go
out through a relay (MAILROOM_OUTBOUND_SMTP) whose every delivery is answered, to the
mailbox's plain address, from a new sender address each time, with no Auto-Submitted and
no threading headers. Each answer opens a new thread, which answers twice (acknowledgement
and knowledge-base answer): left alone that doubles every round. The per-domain cap ends it:
mailroom sends at most MAILROOM_AUTO_REPLIES_PER_DOMAIN_PER_HOUR mails (20 here, 200 by
default) to the responder's domain in an hour, then the responder has nothing to answer."""

from __future__ import annotations

import queue
import smtplib
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from temporalio.testing import WorkflowEnvironment

from tests.faults.mta import raw_mail
from tests.stack import Stack, running_stack, stack_settings
from tests.support import free_port, wait_for
from use_cases.ports import ThreadNotFound
from use_cases.threading import workflow_id_for

SUPPORT = "support@mailroom.local"
DOMAIN = "responder.example"
PER_DOMAIN = 20


class RotatingResponder:
    """The relay and the robot behind it: every mail it is handed is answered once."""

    def __init__(self) -> None:
        self.port = free_port()
        self.smtp_port = 0  # mailroom's, set once the stack runs
        self.received: list[str] = []
        self.answered = 0
        self._outgoing: queue.Queue[bytes | None] = queue.Queue()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._sender = threading.Thread(target=self._send_answers, daemon=True)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(envelope.rcpt_tos[0])
        n = len(self.received)
        self._outgoing.put(
            raw_mail(
                sender=f"agent-{n}@{DOMAIN}",
                to=SUPPORT,
                subject="About your message",
                message_id=f"<ticket-{n}@{DOMAIN}>",
                body="Thanks, we will look into it.\r\n",
            )
        )
        return "250 2.0.0 OK"

    def _send_answers(self) -> None:
        while (answer := self._outgoing.get()) is not None:
            sender = answer.split(b"From: ", 1)[1].split(b"\r\n", 1)[0].decode()
            with smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=30) as smtp:
                smtp.sendmail(sender, [SUPPORT], answer)
            self.answered += 1

    def start(self) -> None:
        self._controller.start()
        self._sender.start()

    def stop(self) -> None:
        self._outgoing.put(None)
        self._controller.stop()
        self._sender.join(timeout=30)


@pytest.fixture
def responder() -> Iterator[RotatingResponder]:
    robot = RotatingResponder()
    robot.start()
    try:
        yield robot
    finally:
        robot.stop()


@pytest.fixture
async def stack(
    dev_server: WorkflowEnvironment, tmp_path: Path, task_queue: str, responder: RotatingResponder
) -> AsyncIterator[Stack]:
    settings = stack_settings(
        tmp_path,
        dev_server.client,
        task_queue,
        outbound_smtp=f"127.0.0.1:{responder.port}",
        auto_replies_per_domain_per_hour=PER_DOMAIN,
    )
    async with running_stack(dev_server.client, settings) as running:
        responder.smtp_port = running.smtp_port
        yield running


async def test_a_rotating_auto_responder_loop_ends_at_the_domain_cap(
    stack: Stack, responder: RotatingResponder, unique: str
) -> None:
    start = f"<start-{unique}@{DOMAIN}>"
    first = raw_mail(
        sender=f"agent-0@{DOMAIN}",
        to=SUPPORT,
        subject="Printer on fire",
        message_id=start,
        body="My printer is on fire.\r\n",
    )
    await stack.send(first, [SUPPORT], sender=f"agent-0@{DOMAIN}")
    await wait_for(lambda: _answered_all(responder, PER_DOMAIN), what="the cap", timeout=60)
    # Every thread the responder opened has done what it will do: nothing more is coming.
    roots = [start, *(f"<ticket-{n}@{DOMAIN}>" for n in range(1, responder.answered + 1))]
    await wait_for(lambda: _at_rest(stack, roots), what="every thread at rest", timeout=60)
    print(f"\nloop ended: {len(responder.received)} mails from mailroom, {len(roots)} threads")
    assert len(responder.received) == PER_DOMAIN


async def _answered_all(responder: RotatingResponder, at_least: int) -> bool:
    return responder.answered == len(responder.received) >= at_least


async def _at_rest(stack: Stack, roots: list[str]) -> bool:
    for root in roots:
        try:
            state = await stack.gateway.get(workflow_id_for(SUPPORT, root))
        except ThreadNotFound:
            return False
        if state.stage not in {"waiting_for_customer", "escalated"}:
            return False
    return True
