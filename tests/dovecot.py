"""A throwaway Dovecot IMAP server for the tests: its own config, Maildir, port and PID.

Everything lives in one temp dir (config, passwd-file, Maildir, base_dir, state_dir, log),
so it never touches /etc or /var/run. Dovecot refuses UID 0 for mail users and runs its
login process unprivileged: under root the test user gets the `mail` user's uid/gid, the
temp dir is world-readable, and imap-login/anvil run without chroot.

With `tls=True` it runs with `ssl = required`: a throwaway CA (made with the `openssl` CLI at
fixture time, tests/dovecot_tls.py) signs a certificate for localhost/127.0.0.1; the plain port
offers STARTTLS and an imaps port speaks implicit TLS. Dovecot counts a connection from its own
IP as secured and lets it log in without TLS: the helper client (`client`, `append`, `flags`)
does, so every TLS login in the log (`tls_logins`) is the code under test's.

With `oauth2_token=...` it also offers XOAUTH2 and OAUTHBEARER through Dovecot's oauth2 passdb,
which asks a token introspection endpoint (RFC 7662) served by the test itself (`Introspection`,
an http.server on a thread, tests/oauth_introspection.py): that one token is active for the test
user, any other is not. The password keeps working for PLAIN/LOGIN, so the helper client is
unchanged.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from datetime import datetime
from pathlib import Path
from urllib.parse import quote, urlencode

from imapclient import IMAPClient

from tests.dovecot_config import PASSWORD, USER, write_config
from tests.dovecot_tls import TlsFiles, make_certificates, require_openssl
from tests.oauth_introspection import Introspection
from tests.support import free_port, require_tool, wait_for_sync

START_TIMEOUT = 15.0


def dovecot_binary() -> str | None:
    found = shutil.which("dovecot") or "/usr/sbin/dovecot"
    return found if os.access(found, os.X_OK) else None


def require_dovecot() -> str:
    """The dovecot binary; skip (fail under CI) when it is not installed."""
    return require_tool(
        dovecot_binary(),
        "dovecot not installed (apt-get install dovecot-imapd): IMAP tests need it",
    )


class Dovecot:
    user = USER
    password = PASSWORD

    def __init__(
        self,
        binary: str,
        root: Path,
        *,
        capability: str | None = None,
        tls: bool = False,
        oauth2: Introspection | None = None,
    ) -> None:
        self.binary = binary
        self.root = root
        self.port = free_port()
        self.capability = capability
        self.tls: TlsFiles | None = make_certificates(root / "tls") if tls else None
        self.imaps_port = free_port() if tls else 0  # 0: no imaps listener
        self.oauth2 = oauth2  # with it, XOAUTH2/OAUTHBEARER logins are checked against it
        self.process: subprocess.Popen[bytes] | None = None
        write_config(
            root,
            port=self.port,
            imaps_port=self.imaps_port,
            capability=capability,
            tls=self.tls,
            introspection_url=oauth2.url if oauth2 is not None else None,
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
            if not s.recv(64).startswith(b"* OK"):
                return False
            if not self.tls:
                return True
            with socket.create_connection(("127.0.0.1", self.imaps_port), 1):
                return True  # both listeners are up
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

    def tls_logins(self, port: int) -> int:
        """How many logins over TLS (implicit or STARTTLS) came in on `port`."""
        with suppress(OSError):
            log = (self.root / "dovecot.log").read_text(errors="replace")
            return sum(
                f"lport={port}," in line and ", TLS," in line
                for line in log.splitlines()
                if f"Login: user=<{USER}>" in line
            )
        return 0

    def url(self, folder: str = "INBOX", **params: str) -> str:
        user = quote(USER, safe="")
        password = quote(PASSWORD, safe="")
        query = urlencode({"tls": "off", **params}, safe=":@")
        return f"imap://{user}:{password}@127.0.0.1:{self.port}/{quote(folder)}?{query}"

    def oauth2_url(self, token_env: str, folder: str = "INBOX", **params: str) -> str:
        """`auth=xoauth2` over plain IMAP: no password, the token comes from `token_env`."""
        if self.oauth2 is None:
            raise RuntimeError("this Dovecot runs without OAuth2: start it with oauth2_token=")
        query = urlencode({"tls": "off", "auth": "xoauth2", "token_env": token_env, **params})
        return f"imap://{quote(USER, safe='')}@127.0.0.1:{self.port}/{quote(folder)}?{query}"

    def oauth2_logins(self) -> int:
        """How many XOAUTH2 logins Dovecot accepted (the helper client logs in with PLAIN)."""
        with suppress(OSError):
            log = (self.root / "dovecot.log").read_text(errors="replace")
            return sum(f"Login: user=<{USER}>, method=XOAUTH2" in line for line in log.splitlines())
        return 0

    def tls_url(
        self,
        folder: str = "INBOX",
        *,
        implicit: bool = True,
        host: str = "127.0.0.1",
        with_ca: bool = True,
        **params: str,
    ) -> str:
        """`imaps://` (implicit) or `imap://` (STARTTLS) to this TLS server; `with_ca` adds
        `ca_file=` with the test CA, without it only the system's CAs are trusted."""
        if self.tls is None:
            raise RuntimeError("this Dovecot runs without TLS: start it with tls=True")
        user = quote(USER, safe="")
        password = quote(PASSWORD, safe="")
        scheme, port = ("imaps", self.imaps_port) if implicit else ("imap", self.port)
        ca = {"ca_file": str(self.tls.ca)} if with_ca else {}
        query = urlencode({**ca, **params}, safe=":@/")
        return f"{scheme}://{user}:{password}@{host}:{port}/{quote(folder)}?{query}".rstrip("?")

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


@contextmanager
def running_dovecot(
    capability: str | None = None, *, tls: bool = False, oauth2_token: str | None = None
) -> Iterator[Dovecot]:
    """`oauth2_token`: also accept XOAUTH2/OAUTHBEARER logins, with this token only (the
    introspection endpoint is `server.oauth2`); the password keeps working for PLAIN/LOGIN."""
    binary = require_dovecot()
    if tls:
        require_openssl()
    # Not pytest's tmp_path: its parent is 0700, and Dovecot's unprivileged processes
    # must reach the Maildir.
    root = Path(tempfile.mkdtemp(prefix="mailroom-dovecot-"))
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, root, ignore_errors=True)
        oauth2 = None
        if oauth2_token is not None:
            oauth2 = Introspection(oauth2_token)
            oauth2.start()
            stack.callback(oauth2.stop)
        server = Dovecot(binary, root, capability=capability, tls=tls, oauth2=oauth2)
        stack.callback(server.stop)
        server.start()
        yield server
