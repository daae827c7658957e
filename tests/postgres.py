"""A throwaway PostgreSQL server for the tests: its own cluster, port, socket dir and PID.

Debian's PostgreSQL (`apt-get install postgresql`, .ci/run does) in one temp dir: `initdb`
makes a cluster with trust authentication for one superuser, `pg_ctl` starts it on a free
port bound to 127.0.0.1 with its unix socket in the temp dir (never /var/run/postgresql), and
stops it by its own data directory's PID file. initdb and postgres refuse to run as root: under
root they run as the `postgres` system user (the Debian package makes it) or else `nobody`,
owning the temp dir. fsync is off: a test cluster need not survive a power cut.

Unlike the optional tools, a missing PostgreSQL FAILS the test, locally too: the shared-state
contract tests are the only proof the PostgreSQL adapters work.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support import free_port

SUPERUSER = "mailroom"
START_TIMEOUT_SECONDS = 30


def postgres_bin_dir() -> Path | None:
    """Where initdb and pg_ctl are: on PATH, or Debian's /usr/lib/postgresql/<major>/bin."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(os.path.realpath(on_path)).parent
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3])
    )
    return Path(found[-1]).parent if found else None


def require_postgres() -> Path:
    found = postgres_bin_dir()
    if found is None:
        pytest.fail(
            "PostgreSQL not installed (apt-get install postgresql): initdb and pg_ctl are "
            "neither on PATH nor under /usr/lib/postgresql/*/bin"
        )
    return found


def _unprivileged_user() -> str | None:
    """The user the server runs as when we are root (None: run as ourselves)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    pytest.fail("running as root and neither a `postgres` nor a `nobody` user exists")


class PostgresServer:
    def __init__(self, bin_dir: Path, root: Path) -> None:
        self.bin_dir = bin_dir
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.user = _unprivileged_user()

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin_dir / tool), *args]
        if self.user is not None:
            command = ["runuser", "-u", self.user, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stderr}{tail}")

    def start(self) -> None:
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self._run(
            "initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust",
            "--encoding=UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-o", options,
            "-w", "-t", str(START_TIMEOUT_SECONDS), "start",
        )  # fmt: skip

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; its URL. One per test keeps tests apart."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    bin_dir = require_postgres()
    with tempfile.TemporaryDirectory(prefix="mailroom-pg-") as tmp:
        server = PostgresServer(bin_dir, Path(tmp))
        server.start()
        try:
            yield server
        finally:
            server.stop()
