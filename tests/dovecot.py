"""A throwaway Dovecot IMAP server for the tests: its own config, Maildir, port and PID.

Everything lives in one temp dir (config, passwd-file, Maildir, base_dir, state_dir, log),
so it never touches /etc or /var/run. Dovecot refuses UID 0 for mail users and runs its
login process unprivileged: under root the test user gets the `mail` user's uid/gid, the
temp dir is world-readable, and imap-login/anvil run without chroot.

With `tls=True` it runs with `ssl = required`: a throwaway CA (made with the `openssl` CLI at
fixture time) signs a certificate for localhost/127.0.0.1; the plain port offers STARTTLS and
an imaps port speaks implicit TLS. Dovecot counts a connection from its own IP as secured
and lets it log in without TLS: the helper client (`client`, `append`, `flags`) does, so every
TLS login in the log (`tls_logins`) is the code under test's.

With `oauth2_token=...` it also offers XOAUTH2 and OAUTHBEARER through Dovecot's oauth2 passdb,
which asks a token introspection endpoint (RFC 7662) served by the test itself (`Introspection`,
an http.server on a thread): that one token is active for the test user, any other is not.
The password keeps working for PLAIN/LOGIN, so the helper client is unchanged.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

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
{ssl}
disable_plaintext_auth = no
auth_mechanisms = {mechanisms}
default_internal_user = {internal_user}
default_internal_group = {internal_group}
default_login_user = {login_user}
first_valid_uid = {uid}
mail_location = maildir:{root}/mail/%u
{capability}
{oauth2_passdb}passdb {{
  driver = passwd-file
  {password_mechanisms}args = scheme=PLAIN username_format=%u {root}/passwd
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
    address = 127.0.0.1
    port = {imaps_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
{anvil}}}
"""


TLS_CONFIG = """\
ssl = required
ssl_cert = <{cert}
ssl_key = <{key}
# the default elements plus the local port: which listener (and so which TLS mode) a login used
login_log_format_elements = user=<%u> method=%m rip=%r lip=%l lport=%{{lport}} mpid=%e %c \
  session=<%{{session}}>
"""
TLS_HOSTS = ("localhost", "127.0.0.1")  # the server certificate's subjectAltNames

PASSWORD_MECHANISMS = "plain login"
OAUTH2_MECHANISMS = "xoauth2 oauthbearer"
# First in line for the OAuth2 mechanisms only; the passwd-file passdb after it keeps serving
# plain/login (the helper client), restricted to those so a refused token is not tried as a
# password too.
OAUTH2_PASSDB = """\
passdb {{
  driver = oauth2
  mechanisms = {mechanisms}
  args = {conf}
}}
"""
# No 2 s delay on a refused login, and no penalty growing (up to 15 s a login, even a good one)
# with each failure from the same IP: the tests log in with a wrong token on purpose, often.
OAUTH2_FAILURE_DELAY = "auth_failure_delay = 0\n"
NO_AUTH_PENALTY = """\
  unix_listener anvil-auth-penalty {
    mode = 0
  }
"""
# Dovecot POSTs `token=<access token>` to the introspection URL (RFC 7662) and accepts the
# login when `active` is true and `username` is the user the client logged in as.
OAUTH2_CONF = """\
introspection_mode = post
introspection_url = {url}
username_attribute = username
active_attribute = active
active_value = true
timeout_msecs = 5000
"""


@dataclass(frozen=True)
class TlsFiles:
    ca: Path  # the throwaway CA's certificate: what a client passes as ca_file
    cert: Path  # the server certificate, signed by that CA
    key: Path


def require_openssl() -> str:
    """The openssl CLI, which makes the test certificates; skip (fail under CI) without it."""
    binary = shutil.which("openssl")
    if binary is None:
        reason = "openssl CLI not installed: the IMAP TLS tests need it to make certificates"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return binary


def make_certificates(directory: Path) -> TlsFiles:
    """A CA valid for a day and a server certificate it signed for TLS_HOSTS.

    The extensions are what strict verification (Python's VERIFY_X509_STRICT) expects:
    a critical CA basicConstraints, key usages, and subject/authority key identifiers.
    """
    openssl = require_openssl()
    directory.mkdir(exist_ok=True)
    ca_key, ca, key, csr, cert = (
        directory / name for name in ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem")
    )
    new_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl(
        openssl, "req", "-x509", *new_key, "-keyout", ca_key, "-out", ca, "-days", "1",
        "-subj", "/CN=mailroom test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-addext", "subjectKeyIdentifier=hash",
    )  # fmt: skip
    _openssl(
        openssl, "req", "-new", *new_key, "-keyout", key, "-out", csr, "-subj", "/CN=localhost"
    )  # fmt: skip
    extensions = directory / "server.ext"
    extensions.write_text(
        "basicConstraints = critical, CA:FALSE\n"
        "keyUsage = critical, digitalSignature\n"
        "extendedKeyUsage = serverAuth\n"
        "subjectKeyIdentifier = hash\n"
        "authorityKeyIdentifier = keyid:always\n"
        "subjectAltName = DNS:localhost, IP:127.0.0.1\n"
    )
    _openssl(
        openssl, "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-set_serial", "1",
        "-days", "1", "-extfile", extensions, "-out", cert,
    )  # fmt: skip
    return TlsFiles(ca=ca, cert=cert, key=key)


def _openssl(openssl: str, *args: str | Path) -> None:
    done = subprocess.run(
        [openssl, *map(str, args)], capture_output=True, text=True, timeout=30, check=False
    )
    if done.returncode != 0:
        raise AssertionError(f"openssl {args[0]} failed:\n{done.stderr}")


class Introspection:
    """The OAuth2 token introspection endpoint (RFC 7662) Dovecot's oauth2 passdb asks.

    A small HTTP server on its own thread: `token` is active and belongs to `user`, every
    other token is inactive. Change `token` to revoke the old one. `asked` lists the tokens
    it was asked about, in order: what Dovecot actually received from the client.
    """

    path = "/introspect"

    def __init__(self, token: str, user: str = USER) -> None:
        self.token = token
        self.user = user
        self.asked: list[str] = []
        self.port = free_port()
        self._server = _IntrospectionServer(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="introspection", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def answer(self, token: str) -> dict[str, object]:
        self.asked.append(token)
        if token and token == self.token:
            return {"active": True, "username": self.user, "scope": "imap"}
        return {"active": False}

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=10)
        self._server.server_close()


class _IntrospectionServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, introspection: Introspection) -> None:
        self.introspection = introspection
        super().__init__(("127.0.0.1", introspection.port), _IntrospectionHandler)


class _IntrospectionHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # introspection_mode = post: a form with `token=`
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode("utf-8", "replace"))
        self._reply(form.get("token", [""])[0])

    def do_GET(self) -> None:  # introspection_mode = auth: the token as a Bearer header
        scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
        self._reply(token if scheme.lower() == "bearer" else "")

    def _reply(self, token: str) -> None:
        if urlsplit(self.path).path != Introspection.path:
            self.send_error(404)
            return
        assert isinstance(self.server, _IntrospectionServer)
        body = json.dumps(self.server.introspection.answer(token)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the tests look at `asked` and Dovecot's log


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
        mechanisms, oauth2_passdb, password_mechanisms, anvil = PASSWORD_MECHANISMS, "", "", ""
        if self.oauth2 is not None:
            conf = self.root / "dovecot-oauth2.conf.ext"
            conf.write_text(OAUTH2_CONF.format(url=self.oauth2.url))
            mechanisms = f"{PASSWORD_MECHANISMS} {OAUTH2_MECHANISMS}"
            oauth2_passdb = OAUTH2_FAILURE_DELAY + OAUTH2_PASSDB.format(
                mechanisms=OAUTH2_MECHANISMS, conf=conf
            )
            password_mechanisms = f"mechanisms = {PASSWORD_MECHANISMS}\n  "
            anvil = NO_AUTH_PENALTY
        (self.root / "dovecot.conf").write_text(
            CONFIG.format(
                mechanisms=mechanisms,
                oauth2_passdb=oauth2_passdb,
                password_mechanisms=password_mechanisms,
                anvil=anvil,
                root=self.root,
                port=self.port,
                uid=uid,
                internal_user=internal_user,
                internal_group=internal_group,
                login_user=login_user,
                capability=f"imap_capability = {self.capability}" if self.capability else "",
                ssl=TLS_CONFIG.format(cert=self.tls.cert, key=self.tls.key)
                if self.tls
                else "ssl = no",
                imaps_port=self.imaps_port,
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
