"""STARTTLS and AUTH for the SMTP listeners: the server's TLS context and the submission
users file.

The users file has one `name:hash` line per user (`#` comments and blank lines skipped);
`hash` is `scrypt$N$r$p$<salt hex>$<key hex>`, made by `hash_password`. scrypt is in the
standard library (hashlib, OpenSSL), is memory-hard (16 MiB per check at N=2^14, r=8), and
needs no extra service: Postfix delegates AUTH to Cyrus or Dovecot SASL, which is more than
an optional submission port into mailroom's own mailboxes calls for. Verification runs on
threads of its own (about 50 ms of CPU each), never on the event loop nor on asyncio's
default pool, which the stores' writes use: password guessers cannot slow a hand-off. At
most AUTH_THREADS + AUTH_QUEUE checks wait at once (more: 454, try again later), and a
client past AUTH_FAILURES_PER_MINUTE failed checks is refused for a while (in the spirit of
Postfix's smtpd_client_auth_rate_limit, which counts AUTH commands per client and minute).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import ssl
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

SCHEME = "scrypt"
DEFAULT_N, DEFAULT_R, DEFAULT_P = 2**14, 8, 1
KEY_BYTES = 32
# Bounds on what a users file may ask for, so one line cannot make each check take
# gigabytes or minutes.
MAX_N, MAX_R, MAX_P = 2**20, 32, 16
MAX_MEMORY = 1024 * 1024 * 1024
# Password checks: threads of their own (each check is CPU and 16 MiB; two keep a core for
# the loop), and how many more may wait for one before AUTH is answered 454.
AUTH_THREADS = 2
AUTH_QUEUE = 16
# Failed checks a client host may have in a minute, over all its connections (each of
# which is closed after 3); past them every AUTH of that host is refused until the minute
# has passed. Clients are remembered up to MAX_CLIENTS_REMEMBERED, the oldest forgotten.
AUTH_FAILURES_PER_MINUTE = 10
MAX_CLIENTS_REMEMBERED = 10_000


class CredentialsError(ValueError):
    """A users file that cannot be used, in one line (never with a password or hash)."""


def hash_password(password: str, *, n: int = DEFAULT_N, r: int = DEFAULT_R) -> str:
    """The users-file form of `password`, with a fresh random salt."""
    salt = os.urandom(16)
    key = _scrypt(password.encode("utf-8"), salt, n, r, DEFAULT_P)
    return f"{SCHEME}${n}${r}${DEFAULT_P}${salt.hex()}${key.hex()}"


class Credentials:
    """The submission users: name → scrypt hash."""

    def __init__(self, hashes: dict[str, str]) -> None:
        for name, stored in hashes.items():
            if _parse(stored) is None:
                raise CredentialsError(f"user {name!r}: not a {SCHEME}$N$r$p$salt$key hash")
        self._hashes = dict(hashes)
        # Unknown names are checked against this, so a wrong name costs what a wrong
        # password costs and the time taken does not tell which names exist.
        self._decoy = hash_password("")
        self._pool: ThreadPoolExecutor | None = None  # made at the first check
        # Checks running or waiting: taken on the loop, given back by the worker thread.
        self._places = threading.BoundedSemaphore(AUTH_THREADS + AUTH_QUEUE)
        self.failures = FailureRate(AUTH_FAILURES_PER_MINUTE)

    async def check(self, name: bytes, password: bytes) -> bool | None:
        """Whether `password` is `name`'s, worked out on the password threads; None when
        too many checks are waiting already (the client should try again later)."""
        if not self._places.acquire(blocking=False):
            return None
        if self._pool is None:
            self._pool = ThreadPoolExecutor(AUTH_THREADS, thread_name_prefix="smtp-auth")
        try:
            future = self._pool.submit(self.verify, name, password)
        except BaseException:
            self._places.release()
            raise
        # Given back when the check ends, even if its client left and nobody awaits it.
        future.add_done_callback(lambda _: self._places.release())
        return await asyncio.wrap_future(future)

    @classmethod
    def load(cls, path: Path) -> Credentials:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CredentialsError(f"{path}: cannot be read ({type(exc).__name__})") from None
        hashes: dict[str, str] = {}
        for number, line in enumerate(text.splitlines(), start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name, colon, stored = line.partition(":")
            if not colon or not name or _parse(stored) is None:
                raise CredentialsError(f"{path}:{number}: expected name:{SCHEME}$N$r$p$salt$key")
            hashes[name] = stored
        if not hashes:
            raise CredentialsError(f"{path}: no users")
        return cls(hashes)

    def verify(self, name: bytes, password: bytes) -> bool:
        """Whether `password` is `name`'s (blocking: call it on a worker thread)."""
        try:
            stored = self._hashes.get(name.decode("utf-8"))
        except UnicodeDecodeError:
            stored = None
        parsed = _parse(stored if stored is not None else self._decoy)
        assert parsed is not None  # checked when loaded
        n, r, p, salt, key = parsed
        matches = hmac.compare_digest(_scrypt(password, salt, n, r, p), key)
        return matches and stored is not None


class FailureRate:
    """Failed authentications per client host over the last minute."""

    def __init__(self, per_minute: int, *, window_seconds: float = 60.0) -> None:
        self.per_minute = per_minute
        self.window_seconds = window_seconds
        self._failures: dict[str, deque[float]] = {}

    def exceeded(self, host: str) -> bool:
        return len(self._recent(host)) >= self.per_minute

    def record(self, host: str) -> None:
        recent = self._recent(host)
        recent.append(time.monotonic())
        self._failures[host] = recent
        if len(self._failures) > MAX_CLIENTS_REMEMBERED:
            del self._failures[next(iter(self._failures))]

    def _recent(self, host: str) -> deque[float]:
        recent = self._failures.pop(host, deque())  # popped: re-added last, as the newest
        since = time.monotonic() - self.window_seconds
        while recent and recent[0] < since:
            recent.popleft()
        if recent:
            self._failures[host] = recent
        return recent


def _parse(stored: str) -> tuple[int, int, int, bytes, bytes] | None:
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != SCHEME:
        return None
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, key = bytes.fromhex(parts[4]), bytes.fromhex(parts[5])
    except ValueError:
        return None
    power_of_two = n > 1 and n & (n - 1) == 0
    if not (power_of_two and n <= MAX_N and 1 <= r <= MAX_R and 1 <= p <= MAX_P):
        return None
    if len(salt) < 8 or len(key) != KEY_BYTES:
        return None
    return n, r, p, salt, key


def _scrypt(password: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password, salt=salt, n=n, r=r, p=p, maxmem=MAX_MEMORY, dklen=KEY_BYTES)


def server_tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    """The context STARTTLS uses: the system's server defaults (TLS 1.2 and later), no
    client certificate asked for. Raises OSError/ssl.SSLError for a missing or bad pair."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certfile=cert, keyfile=key)
    return context
