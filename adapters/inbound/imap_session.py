"""One blocking IMAP connection (imapclient). Every method is called through asyncio.to_thread.

Messages are selected by UID, never by \\Seen: another client reading a mail must not hide
it from us. Bodies are fetched with BODY.PEEK[] so fetching never sets \\Seen (RFC 3501
§6.4.5); only `acknowledge`, after the hand-off, changes anything on the server.
"""

from __future__ import annotations

import os
import ssl
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import date
from typing import Any

from imapclient import DELETED, SEEN, IMAPClient
from imapclient.imapclient import SocketTimeout
from imapclient.util import to_unicode

from adapters.inbound.imap_source import After, ImapSource, Tls

CONNECT_TIMEOUT_SECONDS = 30.0
READ_TIMEOUT_SECONDS = 120.0
REPORTED_CAPABILITIES = ("IDLE", "MOVE", "UIDPLUS")


class LoginFailed(RuntimeError):
    pass


@dataclass(frozen=True)
class FolderState:
    uidvalidity: int
    uidnext: int
    exists: int


class ImapSession:
    def __init__(self, source: ImapSource, *, read_timeout: float = READ_TIMEOUT_SECONDS) -> None:
        self.source = source
        self.read_timeout = read_timeout
        self._client: IMAPClient | None = None
        self.capabilities: frozenset[str] = frozenset()
        self.in_idle = False

    @property
    def client(self) -> IMAPClient:
        if self._client is None:
            raise ConnectionError("IMAP session is not open")
        return self._client

    def open(self) -> None:
        source = self.source
        # Verifies the certificate and the host name, against `ca_file` when given (a private
        # CA) and the system's CAs otherwise. Verification is never turned off.
        context = ssl.create_default_context(cafile=source.ca_file)
        self._client = IMAPClient(
            source.host,
            port=source.port,
            ssl=source.tls is Tls.IMPLICIT,
            ssl_context=context if source.tls is Tls.IMPLICIT else None,
            timeout=SocketTimeout(connect=CONNECT_TIMEOUT_SECONDS, read=self.read_timeout),
        )
        if source.tls is Tls.STARTTLS:
            self.client.starttls(context)
        self._login()
        self.capabilities = frozenset(to_unicode(c).upper() for c in self.client.capabilities())

    def _login(self) -> None:
        source = self.source
        if source.auth == "xoauth2":
            # stripped: a token read from a secrets file often ends with a newline
            token = os.environ.get(source.token_env or "", "").strip()
            if not token:
                raise LoginFailed(f"XOAUTH2 token variable {source.token_env} is empty or unset")
            self.client.sasl_login("XOAUTH2", _xoauth2(source.username, token))
        else:
            self.client.login(source.username, source.password)

    def has(self, capability: str) -> bool:
        return capability in self.capabilities

    def select(self) -> FolderState:
        info = self.client.select_folder(self.source.folder)
        uidnext = info.get(b"UIDNEXT")
        if uidnext is None:  # optional before IMAP4rev2: derive it from the highest UID
            uidnext = max(self.client.search(["ALL"]), default=0) + 1
        return FolderState(
            uidvalidity=int(info[b"UIDVALIDITY"]),
            uidnext=int(uidnext),
            exists=int(info.get(b"EXISTS", 0)),
        )

    def uids_after(self, last_uid: int, since: date | None = None) -> list[int]:
        criteria: list[Any] = ["UID", f"{last_uid + 1}:*"]
        if since is not None:
            criteria += ["SINCE", since]
        # "n:*" always matches the highest UID, even one below n (RFC 3501 §6.4.8): filter.
        return sorted(uid for uid in self.client.search(criteria) if uid > last_uid)

    def sizes(self, uids: Sequence[int]) -> dict[int, int]:
        fetched = self.client.fetch(list(uids), ["RFC822.SIZE"])
        return {uid: int(data.get(b"RFC822.SIZE", 0)) for uid, data in fetched.items()}

    def header(self, uid: int) -> bytes:
        """The mail's header alone (for a record of a mail too large to download)."""
        fetched = self.client.fetch([uid], ["BODY.PEEK[HEADER]"])
        return bytes(fetched.get(uid, {}).get(b"BODY[HEADER]", b""))

    def fetch(self, uids: Sequence[int]) -> dict[int, bytes]:
        wanted = set(uids)
        fetched = self.client.fetch(list(uids), ["BODY.PEEK[]"])
        return {
            uid: bytes(data[b"BODY[]"])
            for uid, data in fetched.items()
            if uid in wanted and b"BODY[]" in data
        }

    def ensure_folder(self, folder: str) -> bool:
        """Create `folder` if missing; True if it had to be created."""
        if self.client.folder_exists(folder):
            return False
        with suppress(IMAPClient.Error):  # created meanwhile by another client
            self.client.create_folder(folder)
        return True

    def acknowledge(self, uids: Sequence[int]) -> None:
        """Only called once the thread engine acknowledged every message in `uids`."""
        if not uids or self.source.after is After.LEAVE:
            return
        if self.source.after is After.MARK:
            self.client.add_flags(list(uids), [SEEN], silent=True)
            return
        self._move(uids, self.source.move_to or "")

    def quarantine(self, uid: int, folder: str) -> bool:
        """Move a mail that can never be handed off to `folder` (created if missing); False
        when the server refuses (a NO or BAD: no such right, a name it rejects), so the caller
        still passes over it. A broken connection raises, and the mail is tried again."""
        try:
            self.ensure_folder(folder)
            self._move([uid], folder)
        except IMAPClient.AbortError:
            raise
        except IMAPClient.Error:
            return False
        return True

    def _move(self, uids: Sequence[int], folder: str) -> None:
        if self.has("MOVE"):  # RFC 6851: atomic
            self.client.move(list(uids), folder)
            return
        self.client.copy(list(uids), folder)
        self.client.add_flags(list(uids), [DELETED], silent=True)
        if self.has("UIDPLUS"):  # RFC 4315: expunge only these UIDs
            self.client.uid_expunge(list(uids))
        else:  # also expunges mail another client flagged \Deleted: the best RFC 3501 allows
            self.client.expunge()

    def idle_start(self) -> None:
        self.client.idle()
        self.in_idle = True

    def idle_wait(self, timeout: float) -> bool:
        """Wait up to `timeout` in IDLE; True when the folder (or the connection) changed."""
        started = time.monotonic()
        responses = self.client.idle_check(timeout)
        if any(not _keepalive(r) for r in responses):
            return True
        # An empty answer long before the timeout is EOF: leave IDLE, the next command fails.
        return not responses and time.monotonic() - started < timeout / 2

    def idle_done(self) -> None:
        self.in_idle = False
        self.client.idle_done()

    def close(self) -> None:
        if self._client is None:
            return
        try:
            if self.in_idle:
                self.idle_done()
            self._client.logout()
        except Exception:
            with suppress(Exception):
                self._client.shutdown()
        finally:
            self._client = None


def _xoauth2(user: str, token: str) -> Callable[[bytes], bytes]:
    """The XOAUTH2 client side: the token once, then an empty reply to the server's error
    challenge (base64 JSON), which the server answers with a tagged NO (Google's XOAUTH2 spec).

    imapclient's `oauth2_login` answers every challenge with the token, so a refused login
    sent it a second time as the reply to the error.
    """
    sent = False

    def respond(challenge: bytes) -> bytes:
        nonlocal sent
        if sent:
            return b""
        sent = True
        return f"user={user}\x01auth=Bearer {token}\x01\x01".encode()

    return respond


def _keepalive(response: Any) -> bool:
    """Dovecot's `* OK Still here` during IDLE says nothing about the folder."""
    return isinstance(response, tuple) and bool(response) and response[0] == b"OK"
