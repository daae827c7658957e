"""A worker SIGKILLed while procurement flows are mid-send and mid-purchase-order: a new
worker finishes every thread, and the books balance — each PO once, each mail once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from adapters.inbound.mime import parse_email
from adapters.outbound.ledger import SqliteLedger
from adapters.outbound.outbox import MaildirOutbox
from adapters.outbound.temporal_gateway import TemporalThreadGateway
from tests.encryption import give_test_key
from tests.support import wait_for
from use_cases.ingest import ingest_email
from use_cases.models import FlowConfig, ThreadStatus

pytestmark = pytest.mark.slow
MAILBOX = "procurement@mailroom.local"
THREADS = 16
# An activity lost with its worker is retried after its start-to-close timeout (60 s for
# sends): the wait below covers that.
RECOVERY_TIMEOUT = 150


def rfq(n: int, tag: str) -> bytes:
    return (
        f"From: buyer{n}@corp.example\r\nTo: {MAILBOX}\r\nSubject: Order {n}\r\n"
        f"Message-ID: <crash-{tag}-{n}@corp.example>\r\n\r\n"
        f"Please order {n + 1} monitors, budget EUR {100 + n}.\r\n"
    ).encode()


class Workers:
    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs = env, logs
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        log = open(self.logs / f"worker-{len(self.started)}.log", "wb")  # noqa: SIM115
        process = subprocess.Popen(
            [sys.executable, "-m", "orchestrator.cli", "worker"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.started.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                process.wait(10)


@pytest.fixture
def workers(dev_server: WorkflowEnvironment, tmp_path: Path, task_queue: str) -> Iterator[Workers]:
    give_test_key(tmp_path / "data")  # the workers open what the test's client sealed
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MAILROOM_")},
        "MAILROOM_DATA_DIR": str(tmp_path / "data"),
        "MAILROOM_TEMPORAL_ADDRESS": dev_server.client.service_client.config.target_host,
        "MAILROOM_TASK_QUEUE": task_queue,
        "MAILROOM_QUEUE_PREFIX": f"{task_queue}-",
        "MAILROOM_MAILBOXES": MAILBOX,
    }
    running = Workers(env, tmp_path)
    yield running
    running.stop_all()


async def test_a_worker_killed_mid_flow_loses_nothing_and_duplicates_nothing(
    dev_server: WorkflowEnvironment, workers: Workers, tmp_path: Path, task_queue: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    ledger = SqliteLedger(tmp_path / "data" / "ledger.sqlite")
    outbox = MaildirOutbox(tmp_path / "data" / "outbox")
    # acknowledged at once: every thread's acknowledgement is counted below
    gateway = TemporalThreadGateway(
        dev_server.client, task_queue=task_queue, flow_config=FlowConfig(ack_delay=timedelta(0))
    )
    first = workers.start()
    thread_ids: list[str] = []
    for n in range(THREADS):
        ingested = await ingest_email(
            rfq(n, tag), mailboxes=[MAILBOX], gateway=gateway, parse=parse_email
        )
        thread_ids.extend(ingested.thread_ids)

    await wait_for(lambda: ledger.purchase_orders(), timeout=60, what="a first PO")
    first.send_signal(signal.SIGKILL)  # no drain, no goodbye: as an OOM kill
    await asyncio.to_thread(first.wait, 10)
    made_before_kill = len(ledger.purchase_orders())
    assert made_before_kill < THREADS, "the kill came too late to test anything"
    workers.start()

    async def all_completed() -> bool:
        states = [await gateway.get(t) for t in thread_ids]
        return all(s.status is ThreadStatus.COMPLETED and s.stage == "confirmed" for s in states)

    await wait_for(all_completed, timeout=RECOVERY_TIMEOUT, what="every thread to complete")
    orders = ledger.purchase_orders()
    assert sorted(o.thread_id for o in orders) == sorted(thread_ids), "each PO exactly once"
    sent = [e.message_id for e in outbox.entries()]
    assert len(sent) == len(set(sent)), "no mail twice"
    confirmations = [m for m in sent if "-confirmation-" in m]
    acks = [m for m in sent if m.startswith("<ack-")]
    assert len(confirmations) == THREADS and len(acks) == THREADS
    print(
        f"crash: threads={THREADS} pos_before_kill={made_before_kill} pos={len(orders)} "
        f"mails={len(sent)} duplicates=0",
        flush=True,
    )
