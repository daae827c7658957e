"""A mailroom deployment made of real processes this test owns: the embedded Temporal server
(the `temporal` binary with EmbeddedTemporal's arguments, on an on-disk SQLite file), a
`mailroom worker` and a `mailroom smtp`, each in its own session so a fault kills exactly it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from email import policy
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any, Self

from aiosmtpd.controller import Controller
from temporalio.client import Client

from adapters.outbound.outbox import MaildirOutbox
from adapters.outbound.postgres import migrate
from adapters.outbound.temporal_gateway import TemporalThreadGateway
from orchestrator.bootstrap import data_converter
from orchestrator.settings import Settings
from orchestrator.temporal_server import EmbeddedTemporal
from tests.support import free_port, wait_for
from use_cases.models import FlowConfig

STARTUP_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0


class Child:
    """One process started in a new session; kill() and stop() reach its whole group."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen(
                args,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid = self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        self._signal_group(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        """SIGTERM (mailroom stops in order), then SIGKILL if it does not exit in time."""
        self._signal_group(signal.SIGTERM)
        try:
            self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
        self._signal_group(signal.SIGKILL)  # anything the group left behind

    def _signal_group(self, signum: int) -> None:
        # The group id is our child's pid; Linux never hands out a live group's id to a new
        # process, so this reaches only what we started (or nothing: ESRCH).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signum)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError(f"no VmRSS for pid {self.pid}")


class Deployment:
    def __init__(self, root: Path, tag: str, **env: str) -> None:
        self.root = root
        self.tag = tag
        self.data_dir = root / "data"
        self.temporal_port = free_port()
        self.smtp_port = free_port()
        self.task_queue = f"faults-{tag}"
        self.settings = Settings(
            data_dir=self.data_dir, temporal_port=self.temporal_port, temporal_ui_port=free_port()
        )
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("MAILROOM_")},
            "MAILROOM_DATA_DIR": str(self.data_dir),
            "MAILROOM_TEMPORAL_ADDRESS": self.settings.temporal_target,
            "MAILROOM_TASK_QUEUE": self.task_queue,
            "MAILROOM_QUEUE_PREFIX": f"{self.task_queue}-",
            "MAILROOM_SMTP_PORT": str(self.smtp_port),
            "MAILROOM_REPLY_TOKEN_SECRET": f"fault-tests-reply-token-secret-{tag}",  # >= 32 bytes
            "MAILROOM_ACK_DELAY": "0",  # the books count one acknowledgement per thread
            # A tighter bound and hold than the defaults, so the worker-killed test sees
            # deferrals soon (the MTAs' SMTP timeout is 30 s).
            "MAILROOM_MAX_BACKLOG_SECONDS": "2",
            "MAILROOM_BACKLOG_HOLD_SECONDS": "1",
            # Every sender of the suite writes from example.com, hundreds of threads a
            # minute under load: the caps per domain and in all are not what it tests.
            "MAILROOM_AUTO_REPLIES_PER_DOMAIN_PER_HOUR": "1000000",
            "MAILROOM_AUTO_REPLIES_TOTAL_PER_HOUR": "1000000",
            **env,
        }
        if self.env.get("MAILROOM_DATABASE_URL"):  # the key ring is the database's then
            database = {"database_url": self.env["MAILROOM_DATABASE_URL"]}
            self.settings = self.settings.model_copy(update=database)
        self.children: list[Child] = []
        self.temporal: Child | None = None
        self.worker: Child | None = None
        self.smtp: Child | None = None
        self._client: Client | None = None

    def _start(self, name: str, args: list[str]) -> Child:
        incarnation = sum(c.log_path.name.startswith(f"{name}-") for c in self.children) + 1
        child = Child(args, self.env, self.root / f"{name}-{incarnation}.log")
        self.children.append(child)
        return child

    async def start_temporal(self) -> Client:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.temporal = self._start("temporal", EmbeddedTemporal(self.settings).command())
        if self.settings.database_url:  # its key ring is read (made) before a node migrates it
            migrate(self.settings.database_url)
        self._client = await wait_for(
            lambda: Client.connect(
                self.settings.temporal_target, data_converter=data_converter(self.settings)
            ),
            timeout=STARTUP_TIMEOUT,
            what="the Temporal server",
        )
        return self._client

    async def start_worker(self) -> Child:
        self.worker = await self._start_mailroom("worker", "task queue")
        return self.worker

    async def start_smtp(self) -> Child:
        self.smtp = await self._start_mailroom("smtp", "accepting")
        return self.smtp

    async def _start_mailroom(self, part: str, announced: str) -> Child:
        child = self._start(part, [sys.executable, "-m", "orchestrator.cli", part])
        await wait_for(
            lambda: announced in child.log() or not child.alive,
            timeout=STARTUP_TIMEOUT,
            what=f"mailroom {part}",
        )
        assert child.alive, f"mailroom {part} exited:\n{child.log()[-3000:]}"
        return child

    @property
    def gateway(self) -> TemporalThreadGateway:
        assert self._client is not None, "start_temporal() first"
        # as the deployment's own (MAILROOM_ACK_DELAY=0): the books count acknowledgements
        return TemporalThreadGateway(
            self._client,
            task_queue=self.task_queue,
            flow_config=FlowConfig(ack_delay=timedelta(0)),
        )

    def outbox_replies(self) -> Counter[str]:
        """Message-IDs in the built-in outbox (the Maildir the worker delivers to)."""
        return Counter(e.message_id for e in MaildirOutbox(self.data_dir / "outbox").entries())

    def stop(self) -> None:
        """Teardown: the adapter, then the worker, the server last (as `mailroom up`)."""
        order = {"smtp": 0, "worker": 1, "temporal": 2}
        for child in sorted(self.children, key=lambda c: order[c.log_path.name.split("-")[0]]):
            child.stop()


class RelaySink:
    """An SMTP relay that counts every Message-ID it is handed; stop() makes it refuse
    connections (down), start() brings it back on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: Counter[str] = Counter()
        self._controller: Any = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        headers = BytesHeaderParser(policy=policy.default).parsebytes(envelope.original_content)
        self.received[str(headers.get("Message-ID", ""))] += 1
        return "250 2.0.0 OK"

    def start(self) -> None:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
