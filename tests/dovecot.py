"""A throwaway Dovecot IMAP server for the tests: its own config, Maildir, port and PID.

Everything lives in one temp dir (config, passwd-file, Maildir, base_dir, state_dir, log),
so it never touches /etc or /var/run. Dovecot refuses UID 0 for mail users and runs its
login process unprivileged: under root the test user gets the `mail` user's uid/gid, the
temp dir is world-readable, and imap-login/anvil run without chroot.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from imapclient import IMAPClient

from tests.support import free_port, wait_for_sync

USER = "tester"
PASSWORD = "s3cr@t/p%ss"  # URL-special characters; no ":" (the passwd-file separator)
START_TIMEOUT = 15.0
# Advertised instead of Dovecot's full list, to exercise the polling and COPY+EXPUNGE paths.
WITHOUT_IDLE_AND_MOVE = "IMAP4rev1 SASL-IR LITERAL+ ID ENABLE UNSELECT UIDPLUS NAMESPACE"

CONFIG = """\
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
instance_name = mailroom-test-{port}
log_path = {root}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {internal_user}
default_internal_group = {internal_group}
default_login_user = {login_user}
first_valid_uid = {uid}
mail_location = maildir:{root}/mail/%u
{capability}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/passwd
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
"""


def dovecot_binary() -> str | None:
    found = shutil.which("dovecot") or "/usr/sbin/dovecot"
    return found if os.access(found, os.X_OK) else None


def require_dovecot() -> str:
    """The dovecot binary; skip (fail under CI) when it is not installed."""
    binary = dovecot_binary()
    if binary is None:
        reason = "dovecot not installed (apt-get install dovecot-imapd): IMAP tests need it"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return binary


class Dovecot:
    user = USER
    password = PASSWORD

    def __init__(self, binary: str, root: Path, *, capability: str | None = None) -> None:
        self.binary = binary
        self.root = root
        self.port = free_port()
        self.capability = capability
        self.process: subprocess.Popen[bytes] | None = None
        self._write_config()

    def _write_config(self) -> None:
        uid, gid, internal_user, internal_group, login_user = _identities()
        for sub in ("run", "state", "mail"):
            (self.root / sub).mkdir(exist_ok=True)
        self.root.chmod(0o755)
        if os.geteuid() == 0:
            os.chown(self.root / "mail", uid, gid)
        (self.root / "passwd").write_text(
            f"{USER}:{{PLAIN}}{PASSWORD}:{uid}:{gid}::{self.root}/mail/{USER}::\n"
        )
        (self.root / "dovecot.conf").write_text(
            CONFIG.format(
                root=self.root,
                port=self.port,
                uid=uid,
                internal_user=internal_user,
                internal_group=internal_group,
                login_user=login_user,
                capability=f"imap_capability = {self.capability}" if self.capability else "",
            )
        )

    def start(self) -> None:
        log = (self.root / "stdout.log").open("ab")
        self.process = subprocess.Popen(
            [self.binary, "-F", "-c", str(self.root / "dovecot.conf")],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() ends every child too
        )
        log.close()
        try:
            wait_for_sync(self._greets, timeout=START_TIMEOUT, what="dovecot to listen")
        except AssertionError as exc:
            self.stop()
            raise AssertionError(f"dovecot did not start:\n{self.log_tail()}") from exc

    def _greets(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"dovecot exited:\n{self.log_tail()}")
        with suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 1) as s:
            return s.recv(64).startswith(b"* OK")
        return False

    def stop(self) -> None:
        """Stop this instance's process group: IMAP sessions outlive a master stopped alone."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.process.wait(timeout=10)
        self._signal_group(signal.SIGKILL)

    def _signal_group(self, signum: int) -> None:
        if self.process is not None:
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signum)

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self, lines: int = 20) -> str:
        text = ""
        for name in ("stdout.log", "dovecot.log"):
            with suppress(OSError):
                text += (self.root / name).read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def url(self, folder: str = "INBOX", **params: str) -> str:
        user = quote(USER, safe="")
        password = quote(PASSWORD, safe="")
        query = urlencode({"tls": "off", **params}, safe=":@")
        return f"imap://{user}:{password}@127.0.0.1:{self.port}/{quote(folder)}?{query}"

    @contextmanager
    def client(self, folder: str | None = "INBOX") -> Iterator[IMAPClient]:
        """A second IMAP client (the human's mail program, or the mail server delivering)."""
        client = IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=10)
        client.login(USER, PASSWORD)
        if folder:
            client.select_folder(folder)
        try:
            yield client
        finally:
            with suppress(Exception):
                client.logout()

    def append(
        self,
        raw: bytes,
        folder: str = "INBOX",
        flags: Sequence[bytes] = (),
        received: datetime | None = None,
    ) -> None:
        """APPEND as a delivering server would; `received` sets the INTERNALDATE."""
        with self.client(None) as client:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            client.append(folder, raw, flags=list(flags), msg_time=received)

    def flags(self, folder: str = "INBOX") -> dict[bytes, tuple[bytes, ...]]:
        """Message-ID header → flags, for every message in `folder`."""
        with self.client(folder) as client:
            uids = client.search(["ALL"])
            wanted = ["FLAGS", "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"]
            fetched = client.fetch(uids, wanted) if uids else {}
        found: dict[bytes, tuple[bytes, ...]] = {}
        for data in fetched.values():
            header = data[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"]
            message_id = header.split(b":", 1)[1].strip() if b":" in header else b""
            found[message_id] = tuple(f for f in data[b"FLAGS"] if f != b"\\Recent")
        return found


def _identities() -> tuple[int, int, str, str, str]:
    """uid/gid of the mail user, and the users Dovecot's own processes run as."""
    if os.geteuid() != 0:
        me = pwd.getpwuid(os.getuid())
        group = grp.getgrgid(os.getgid()).gr_name
        return me.pw_uid, me.pw_gid, me.pw_name, group, me.pw_name
    mail = pwd.getpwnam("mail")
    internal = "dovecot" if _user_exists("dovecot") else "mail"
    login = "dovenull" if _user_exists("dovenull") else "nobody"
    internal_group = grp.getgrgid(pwd.getpwnam(internal).pw_gid).gr_name
    return mail.pw_uid, mail.pw_gid, internal, internal_group, login


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@contextmanager
def running_dovecot(capability: str | None = None) -> Iterator[Dovecot]:
    binary = require_dovecot()
    # Not pytest's tmp_path: its parent is 0700, and Dovecot's unprivileged processes
    # must reach the Maildir.
    root = Path(tempfile.mkdtemp(prefix="mailroom-dovecot-"))
    server = Dovecot(binary, root, capability=capability)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
