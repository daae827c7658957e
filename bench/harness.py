"""The stack under test: an embedded Temporal server and mailroom parts as subprocesses."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio.client import Client

from bench.mails import DOMAINS, Layout
from bench.ports import free_port as free_port  # the benches import it from here
from bench.proctree import read_stats, tree_cpu_seconds
from bench.rest import rest_began
from orchestrator.bootstrap import data_converter
from orchestrator.logs import configure_logging
from orchestrator.settings import Settings
from orchestrator.temporal_server import EmbeddedTemporal

ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 20.0
IDLE_WAIT_SECONDS = 120.0


def rss_kb(pid: int) -> int:
    """Resident set size of a process, from /proc/<pid>/status (VmRSS, in kB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU time every process on the machine has used (/proc/stat), to see interference."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def sqlite_bytes(data_dir: Path) -> int:
    """temporal.db plus its WAL: committed rows live in the WAL until a checkpoint."""
    return sum(
        p.stat().st_size
        for p in (data_dir / "temporal.db", data_dir / "temporal.db-wal")
        if p.exists()
    )


@dataclass
class Part:
    """One subprocess we started; stopped by its own pid (SIGTERM, then SIGKILL)."""

    name: str
    process: asyncio.subprocess.Process
    stdout: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    async def wait_for_output(self, text: str) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while text not in self.stdout.read_text(errors="replace"):
            if self.process.returncode is not None or time.monotonic() > deadline:
                errors = self.stdout.with_suffix(".err").read_text(errors="replace")
                raise RuntimeError(f"{self.name} did not become ready:\n{errors[-2000:]}")
            await asyncio.sleep(0.1)

    async def stop(self) -> None:
        if self.process.returncode is not None:
            return
        self.process.terminate()
        try:
            await asyncio.wait_for(self.process.wait(), STOP_TIMEOUT_SECONDS)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            await self.process.wait()


@dataclass
class BenchStack:
    settings: Settings
    client: Client
    stack: AsyncExitStack
    server: EmbeddedTemporal
    parts: list[Part] = field(default_factory=list)
    dump: Path | None = None

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir

    @property
    def target(self) -> str:
        return self.settings.temporal_target

    def env(self, **extra: str) -> dict[str, str]:
        """The environment `mailroom` subprocesses read their settings from."""
        s = self.settings
        env = {k: v for k, v in os.environ.items() if not k.startswith("MAILROOM_")}
        env.update(
            MAILROOM_CONFIG=str(s.data_dir / "no-mailroom.toml"),
            MAILROOM_DATA_DIR=str(s.data_dir),
            MAILROOM_TEMPORAL_ADDRESS=s.temporal_target,
            MAILROOM_TASK_QUEUE=s.task_queue,
            MAILROOM_QUEUE_PREFIX=f"{s.task_queue}-",
            MAILROOM_SMTP_HOST="127.0.0.1",
            MAILROOM_SMTP_PORT=str(s.smtp_port),
            MAILROOM_DOMAINS=DOMAINS,
            MAILROOM_LOG_LEVEL=s.log_level,
            # Every customer writes from example.com, thousands a run: the caps per domain
            # and in all would suppress most answers and flatter the figures.
            MAILROOM_AUTO_REPLIES_PER_DOMAIN_PER_HOUR="1000000",
            MAILROOM_AUTO_REPLIES_TOTAL_PER_HOUR="1000000",
            PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        )
        if "search_attributes" in Settings.model_fields:
            # `mailroom up` runs the embedded server, which registers mailroom's search
            # attributes; parts pointed at it by address would otherwise assume it did not.
            env["MAILROOM_SEARCH_ATTRIBUTES"] = "true"
        env.update(extra)
        return env

    async def spawn(self, name: str, args: Sequence[str], **env: str) -> Part:
        out = self.data_dir / f"{name}.out"
        with open(out, "ab") as stdout, open(self.data_dir / f"{name}.err", "ab") as stderr:  # noqa: ASYNC230
            process = await asyncio.create_subprocess_exec(
                *args,
                cwd=ROOT,
                env=self.env(**env),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
            )
        part = Part(name, process, out)
        self.parts.append(part)
        self.stack.push_async_callback(part.stop)
        return part

    def cpu_snapshot(self) -> dict[str, float]:
        """CPU seconds used so far by the server and every part still running, each with
        the processes under it (a role run as N processes: its parent and children)."""
        snapshot = {"machine": machine_busy_seconds()}
        stats = read_stats()
        if self.server.process is not None:
            snapshot["server"] = tree_cpu_seconds(self.server.process.pid, stats)
        for part in self.parts:
            if part.process.returncode is None:
                snapshot[part.name] = tree_cpu_seconds(part.pid, stats)
        return snapshot

    async def wait_idle(self, within: float = IDLE_WAIT_SECONDS) -> dict[str, float]:
        """Wait until the server and the parts, together, come to rest (bench.rest: work a
        pass left behind, such as a flow's activities, would skew the next one). Returns the
        CPU snapshot taken where the rest began (or the last one, after `within`)."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        snapshots = [self.cpu_snapshot()]
        busy: list[float] = []
        while loop.time() - started < within:
            await asyncio.sleep(1.0)
            snapshots.append(self.cpu_snapshot())
            before, after = snapshots[-2], snapshots[-1]
            busy.append(sum(v - before.get(k, v) for k, v in after.items() if k != "machine"))
            began = rest_began(busy)
            if began is not None:
                return snapshots[began]
        # its rest counts in the pass's CPU: say so beside the figures
        print(f"the stack did not come to rest within {within:.0f} s", file=sys.stderr)
        return snapshots[-1]

    async def stop_server(self) -> None:
        """Stop every part, then the server: its last connection checkpoints the WAL."""
        for part in reversed(self.parts):
            await part.stop()
        await self.server.stop()

    async def restart_server(self) -> int:
        """Stop the server (checkpointing the WAL into temporal.db), start it again on the
        same file; returns temporal.db's size in between. Start workers after this."""
        await self.server.stop()
        size = (self.data_dir / "temporal.db").stat().st_size
        await self.server.start()
        return size

    async def run_load(self, name: str, mode: str, **options: object) -> dict[str, Any]:
        """Run `python -m bench.load MODE` to completion; its LoadResult as a dict."""
        out = self.data_dir / f"{name}.json"
        argv = [sys.executable, "-m", "bench.load", mode, "--out", str(out)]
        for option, value in options.items():
            argv += [f"--{option.replace('_', '-')}", str(value)]
        part = await self.spawn(name, argv)
        if await part.process.wait() != 0:
            # the data dir goes with the run (unless --keep): say what the load said
            errors = self.data_dir / f"{name}.err"
            said = errors.read_text(errors="replace")[-2000:] if errors.exists() else ""
            raise RuntimeError(f"load {name} failed; {errors} ended:\n{said}")
        result: dict[str, Any] = json.loads(out.read_text())
        return result

    async def smtp_load(
        self,
        name: str,
        run: str,
        layout: Layout,
        *,
        concurrency: int,
        rate: float = 0.0,
        port: int | None = None,
    ) -> dict[str, Any]:
        """`layout`'s mails over SMTP to `mailroom smtp` (on `port`, default the stack's),
        from C client threads."""
        return await self.run_load(
            name,
            "smtp",
            run=run,
            mails=layout.mails,
            threads=layout.threads,
            order=layout.order,
            mailbox=layout.mailbox,
            concurrency=concurrency,
            rate=rate,
            port=port or self.settings.smtp_port,
        )

    async def mailroom(
        self, command: str, processes: int = 1, /, *, name: str = "", **env: str
    ) -> Part:
        """`mailroom worker` / `mailroom smtp`, exactly as the CLI runs them (a part called
        `name`, default the command; `processes` > 1: `--processes N`, a supervising parent
        and N children, whose CPU cpu_snapshot sums). To profile one, BENCH_WRAP_<NAME>
        (BENCH_WRAP_WORKER, BENCH_WRAP_SMTP, BENCH_WRAP_SMTP_FRONT) puts interpreter options before
        `-m orchestrator.cli`, e.g. `-m memray run --native -o worker.bin`."""
        part_name = name or command
        wrap = os.environ.get(f"BENCH_WRAP_{part_name.upper().replace('-', '_')}", "").split()
        argv = [sys.executable, *wrap, "-m", "orchestrator.cli", command]
        if processes > 1:
            argv += ["--processes", str(processes)]
        part = await self.spawn(part_name, argv, **env)
        await part.wait_for_output({"worker": "worker ", "smtp": "smtp "}[command])
        return part


@asynccontextmanager
async def bench_stack(*, log_level: str = "info", keep: bool = False) -> AsyncIterator[BenchStack]:
    """An embedded server on free ports with its SQLite file in a fresh temp data dir."""
    configure_logging("warning")
    tmp = Path(tempfile.mkdtemp(prefix="mailroom-bench-"))
    try:
        settings = Settings(
            data_dir=tmp,
            temporal_port=free_port(),
            temporal_ui_port=free_port(),
            smtp_port=free_port(),
            domains=DOMAINS.split(","),
            log_level=log_level,
        )
        server = EmbeddedTemporal(settings)
        async with AsyncExitStack() as stack:
            await server.start()
            stack.push_async_callback(server.stop)  # unwinds last
            client = await Client.connect(
                settings.temporal_target, data_converter=data_converter(settings)
            )
            yield BenchStack(settings, client, stack, server)
    finally:
        if keep:
            print(f"data dir kept: {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
