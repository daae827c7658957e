"""What a part needs before it starts, checked first: a failure is one line naming the
setting to change, and nothing has been started that would have to be stopped."""

from __future__ import annotations

import errno
import os
import socket
import stat
from pathlib import Path

import structlog

from orchestrator.cli_errors import CliError
from use_cases.flows import team_addresses

log = structlog.get_logger()

PRIVATE_DIR = 0o700
# The largest mail whose blob may be one bytea value (PostgreSQL's limit is 1 GB; memory is
# the real bound: every SMTP and worker process may hold a few such mails at once).
MAX_DATABASE_BLOB_BYTES = 256 * 1024 * 1024
# Files only mailroom makes: a directory holding one of them (or nothing) is mailroom's own.
STATE_MARKERS = frozenset({"temporal.db", "reply-token.key", "instance.json", "blobs"})


class StartupError(CliError):
    """A part cannot start; the line names the MAILROOM_* setting to change."""


def check_data_dir(path: Path) -> None:
    """The data directory exists (or can be made) and this process can write in it."""
    setting = "MAILROOM_DATA_DIR"
    if path.exists() and not path.is_dir():
        raise StartupError(f"{setting}: {path} is a file, not a directory")
    try:
        path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    except OSError as exc:
        raise StartupError(f"{setting}: cannot create {path}: {reason(exc)}") from None
    check_writable(path, setting)
    keep_private(path)  # once usable: a failure above is the one line said


def check_blob_dir(path: Path | None) -> None:
    """MAILROOM_BLOB_DIR, when set, is a directory that exists and this process can write in.
    It is never made: it is a mount every node shares (or a disk of its own), and one that
    did not come up must stop the node, not have its blobs written where no other node looks."""
    setting = "MAILROOM_BLOB_DIR"
    if path is None:
        return
    if not path.exists():
        raise StartupError(f"{setting}: {path} does not exist (is the share mounted?)")
    if not path.is_dir():
        raise StartupError(f"{setting}: {path} is a file, not a directory")
    check_writable(path, setting)


def check_database_blob_size(max_message_bytes: int, *, blobs_in_database: bool) -> None:
    """With the blobs in PostgreSQL a mail is one bytea value: at most 1 GB to PostgreSQL,
    and storing or reading one costs about twice its size in this process's memory (a
    25 MiB mail: +53 MB to store, +50 MB to read, docs/configuration.md). Past
    MAX_DATABASE_BLOB_BYTES, keep the blobs in a directory."""
    if blobs_in_database and max_message_bytes > MAX_DATABASE_BLOB_BYTES:
        raise StartupError(
            f"MAILROOM_MAX_MESSAGE_BYTES: {max_message_bytes} is over "
            f"{MAX_DATABASE_BLOB_BYTES} ({MAX_DATABASE_BLOB_BYTES >> 20} MiB), the most a mail "
            "kept in PostgreSQL may be: lower it, or set MAILROOM_BLOB_DIR"
        )


def check_writable(path: Path, setting: str) -> None:
    probe = path / f".write-probe-{os.getpid()}"
    try:
        os.close(os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        probe.unlink()
    except OSError as exc:
        raise StartupError(f"{setting}: cannot write in {path}: {reason(exc)}") from None


def keep_private(path: Path) -> None:
    """The data directory holds every mail and, in temporal.db, every reply token: nobody
    else may read it. A directory that is empty or holds mailroom's state is
    tightened to 0700; any other (a directory the operator shares, /srv, a home) is left as
    it is, with a warning, because changing its mode could break what else lives there."""
    try:
        mode = path.stat().st_mode
        if not mode & 0o077:
            return
        names = {entry.name for entry in path.iterdir()}
        ours = path.stat().st_uid == os.geteuid() and not mode & stat.S_ISVTX
        if ours and (not names or names & STATE_MARKERS):
            path.chmod(PRIVATE_DIR)
            log.warning("data_dir_tightened", path=str(path), was=oct(stat.S_IMODE(mode)))
            return
    except OSError:
        return  # it could be written in; what cannot be read or changed stays as it is
    log.warning(
        "data_dir_readable_by_others",
        path=str(path),
        mode=oct(stat.S_IMODE(mode)),
        fix=f"chmod 700 {path}",
    )


def check_listen_address(host: str, port: int, *, setting: str) -> None:
    """`host:port` resolves to an address of this machine and nothing listens on it.
    `setting` is the variable prefix, e.g. MAILROOM_SMTP for MAILROOM_SMTP_HOST / _PORT."""
    message = listen_error(host, port)
    if message is not None:
        raise StartupError(message.format(setting=setting))


def listen_error(host: str, port: int) -> str | None:
    """Why listening on host:port would fail, with `{setting}` left for the caller's prefix;
    None when it would work."""
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        return f"{{setting}}_HOST: cannot resolve {host!r}: {exc.strerror}"
    family, kind, proto, _, address = addresses[0]
    with socket.socket(family, kind, proto) as probe:
        # as servers do: connections lingering in TIME_WAIT do not make a port busy
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            return bind_error(host, port, exc)
    return None


def bind_error(host: str, port: int, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return (
            f"{{setting}}_PORT: {host}:{port} is in use (is mailroom already running?): "
            "set it to a free port"
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"{{setting}}_HOST: {host} is not an address of this machine"
    if exc.errno == errno.EACCES:
        return f"{{setting}}_PORT: {port} needs privileges this process lacks: use one above 1023"
    return f"{{setting}}_HOST: cannot listen on {host}:{port}: {reason(exc)}"


def reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def warn_without_support_team(support_team: str) -> bool:
    """Escalated support threads need a person: without MAILROOM_SUPPORT_TEAM nobody is
    mailed about them. Not an error (a team may watch the thread list); True if warned."""
    if team_addresses(support_team):
        return False
    log.warning(
        "support_team_not_set",
        hint="escalated support threads are mailed to nobody; they are only listed by "
        "`mailroom threads --stage escalated`. Set MAILROOM_SUPPORT_TEAM (comma-separated "
        "addresses) to mail each one a notice they can answer by replying",
    )
    return True
