"""Who may connect to the SMTP listener and how much one client may ask of it.

Postfix is the anchor: its process limit bounds connections in all, anvil bounds them per
client (`smtpd_client_connection_count_limit`, 50) and rates per client per minute. Above a
limit a connection is answered `421 4.7.0` and closed at once, before the greeting, so it
costs a descriptor for a moment and nothing else. The limits are kept well below the
process's descriptor limit: past it `accept()` fails, and a listener that cannot accept
serves nobody, not even the one real sender among a flood. docs/front-door.md has the table.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import resource
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog

log = structlog.get_logger()

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Postfix exempts $mynetworks from anvil's limits; mailroom exempts these from the rate of new
# conversations only. Behind a local MTA or proxy every sender is 127.0.0.1, so a rate on it
# would throttle everyone together. The connection count has no exception: a relay opens at
# most its destination concurrency (Postfix: 20) to us, and a flood from loopback (the attack
# that found this) would otherwise take every place and refuse the real sender with it.
LOOPBACK: tuple[IpNetwork, ...] = (
    ipaddress.ip_network("127.0.0.0/8"),
    ipaddress.ip_network("::1/128"),
)
# Descriptors the rest of the process needs besides SMTP connections: the Temporal client, the
# stores, spool files of DATA transfers, the worker's threads' files.
RESERVED_DESCRIPTORS = 256
# Raising the soft limit to a huge hard limit buys nothing the connection cap would let us
# use, and some hosts' hard limit is a billion.
DESCRIPTOR_LIMIT_CEILING = 65_536

BUSY = "421 4.7.0 {hostname} Error: too many connections, try again later"
BUSY_CLIENT = "421 4.7.0 {hostname} Error: too many connections from {host}"
SHED = "421 4.7.0 {hostname} Error: too many connections, closing an idle one"
SESSION_EXPIRED = "421 4.4.2 {hostname} Error: session time limit exceeded, closing connection"
# For the DATA command (see DataTransfers): Postfix answers a resource shortage with 451 4.3.x.
TRANSFERS_BUSY = "451 4.3.2 Too many messages being received at once, try again later"
THREAD_RATE = "450 4.7.1 Too many new conversations from {host}, try again later"

ACCEPT_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
# One IPv6 client holds a whole prefix (a /64 at least), so per-client limits keyed on the
# exact address would let it open unlimited connections: Postfix 3.8+ keys IPv6 clients on
# their first smtpd_client_ipv6_prefix_length (84) bits.
CLIENT_IPV6_PREFIX = 84
# One client takes at most this share of the DATA transfers under way (a quarter, as of the
# held senders: smtp.py MAX_HELD_PER_HOST_SHARE): slow transfers from one address cannot
# take every place.
MAX_TRANSFERS_PER_CLIENT_SHARE = 4


def client_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The client's address, an IPv4 one as such even when a dual-stack listener reports it
    as `::ffff:a.b.c.d`; None for what is no IP address."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def client_key(host: str, ipv6_prefix: int = CLIENT_IPV6_PREFIX) -> str:
    """What per-client limits count on: an IPv4 address (mapped ones unwrapped), or an IPv6
    client's network of `ipv6_prefix` bits (`2001:db8::/84`)."""
    address = client_address(host)
    if address is None:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.ip_network(f"{address}/{ipv6_prefix}", strict=False))
    return str(address)


def is_loopback(host: str) -> bool:
    address = client_address(host)
    return address is not None and address.is_loopback


def parse_networks(values: Iterable[str]) -> tuple[IpNetwork, ...]:
    """`127.0.0.0/8, ::1` → networks; a bad entry raises ValueError naming it."""
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{value!r} is not an IP address or network") from None
    return tuple(networks)


@dataclass(frozen=True)
class AdmissionLimits:
    """Defaults as Postfix's: 100 smtpd processes (so at most 100 DATA transfers), anvil's 50
    connections per client. Postfix has no total session deadline; ours bounds a client that
    keeps a connection alive one command at a time. `rate_exempt`: the clients ClientRate
    does not count."""

    max_connections: int = 1000
    max_per_client: int = 50
    max_data_transfers: int = 100
    session_seconds: float = 1800.0
    # Idle this long between transactions, a connection gives its place to a new one when
    # the listener is full. A client answers a greeting or a reply within a round trip.
    idle_shed_seconds: float = 1.0
    # Silent this long inside a transaction (after MAIL, no command being answered), it gives
    # way too: one MAIL FROM must not keep a place for the whole idle timeout (300 s). Postfix
    # under stress cuts smtpd_timeout to 10 s for every client, in a transaction or not.
    transaction_idle_shed_seconds: float = 10.0
    rate_exempt: tuple[IpNetwork, ...] = LOOPBACK
    ipv6_prefix: int = CLIENT_IPV6_PREFIX

    def is_rate_exempt(self, host: str) -> bool:
        address = client_address(host)
        return address is not None and any(address in network for network in self.rate_exempt)

    def client(self, host: str) -> str:
        """The key `host` is counted under (client_key)."""
        return client_key(host, self.ipv6_prefix)


@dataclass(frozen=True)
class RecipientLimits:
    """Postfix's smtpd_recipient_limit is 1 000 a message. Recipients are cheap; threads are
    not: each distinct mailbox a mail feeds is a hand-off and may open a thread, so those are
    bounded far lower. Per connection, a client that keeps starting transactions stops too."""

    per_mail: int = 1000
    mailboxes_per_mail: int = 10
    per_connection: int = 10_000


class ThrottledLog:
    """One log line per event name per `interval` seconds at most, carrying how many were
    left out since the last one: a flood never turns into a flood of log."""

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self._last: dict[str, float] = {}
        self._suppressed: Counter[str] = Counter()

    def warning(self, event: str, **fields: Any) -> None:
        now = time.monotonic()
        if now - self._last.get(event, -self.interval) < self.interval:
            self._suppressed[event] += 1
            return
        self._last[event] = now
        suppressed = self._suppressed.pop(event, 0)
        log.warning(event, suppressed_since_last=suppressed, **fields)


class Connection(Protocol):
    """What admission needs of an open connection to shed it when the listener is full."""

    def idle_seconds(self) -> float | None:
        """Seconds since our last reply; None while a command is being answered (a DATA
        transfer, a hand-off, a held MAIL) or before the greeting."""

    def in_transaction(self) -> bool:
        """Whether a MAIL was accepted and the transaction is not over."""

    def shed(self, reply: str) -> None:
        """Answer `reply` and close."""


class Admission:
    """The connections open now, in all and per client, and the DATA transfers under way.

    At the cap, a new connection takes the place of the connection idle the longest between
    transactions, if that one has been idle `idle_shed_seconds` (1 s), else of one silent in a
    transaction for `transaction_idle_shed_seconds` (10 s): a flood of connections that say
    nothing, or only EHLO and MAIL, cannot keep a real sender out (Postfix under stress cuts
    smtpd_timeout to 10 s instead; this sheds only when a place is needed, and at once).
    Clients are counted by `client_key`: an IPv6 client by its /84."""

    def __init__(self, limits: AdmissionLimits, throttled: ThrottledLog | None = None) -> None:
        self.limits = limits
        self.by_client: Counter[str] = Counter()
        self.transfers = DataTransfers(limits.max_data_transfers, limits)
        self._log = throttled or ThrottledLog()
        self._connections: dict[Connection, str] = {}  # open, admitted: their client

    @property
    def open(self) -> int:
        return len(self._connections)

    def admit(self, host: str, hostname: str, connection: Connection) -> str | None:
        """Count `connection` from `host`; or the 421 to answer it with, uncounted."""
        host = self.limits.client(host)
        if self.by_client[host] >= self.limits.max_per_client:
            self._log.warning("smtp_connection_refused_client", peer=host, open=self.open)
            return BUSY_CLIENT.format(hostname=hostname, host=host)
        if self.open >= self.limits.max_connections and not self._shed_idlest(hostname):
            self._log.warning("smtp_connection_refused_busy", peer=host, open=self.open)
            return BUSY.format(hostname=hostname)
        self._connections[connection] = host
        self.by_client[host] += 1
        return None

    def release(self, connection: Connection) -> None:
        """Uncount `connection` (again: nothing)."""
        host = self._connections.pop(connection, None)
        if host is None:
            return
        self.by_client[host] -= 1
        if self.by_client[host] <= 0:
            del self.by_client[host]

    def _shed_idlest(self, hostname: str) -> bool:
        # Between transactions first (shedding one costs its sender nothing), the longest
        # idle first; a silent transaction only when no such connection is idle enough.
        idlest, best = None, (False, 0.0)
        for connection in self._connections:
            idle = connection.idle_seconds()
            if idle is None:
                continue
            between = not connection.in_transaction()
            limit = (
                self.limits.idle_shed_seconds
                if between
                else self.limits.transaction_idle_shed_seconds
            )
            if idle >= limit and (idlest is None or (between, idle) > best):
                idlest, best = connection, (between, idle)
        if idlest is None:
            return False
        self._log.warning("smtp_idle_connection_shed", peer=self._connections[idlest])
        self.release(idlest)
        idlest.shed(SHED.format(hostname=hostname))
        return True


class DataTransfers:
    """DATA transfers under way, bounded in all and per client (a quarter of the places, the
    rate-exempt clients, such as a local relay, excepted). Checked at the DATA command, before
    the `354`, so a refused client has sent no body: MailroomSMTP wraps its DATA command in
    `place()` (answering TRANSFERS_BUSY when not admitted) and keeps the place until the body
    is read and answered, the hand-off included."""

    def __init__(self, limit: int, limits: AdmissionLimits | None = None) -> None:
        self.limit = limit
        self.per_client = max(1, limit // MAX_TRANSFERS_PER_CLIENT_SHARE)
        self.limits = limits or AdmissionLimits()
        self.under_way = 0
        self.by_client: Counter[str] = Counter()

    @contextmanager
    def place(self, host: str = "") -> Iterator[bool]:
        taken = self.take(host)
        try:
            yield taken is not None
        finally:
            if taken is not None:
                self.give_back(taken)

    def take(self, host: str) -> str | None:
        """A place for `host`: the key to give it back under (give_back), or None."""
        client = self.limits.client(host)
        exempt = self.limits.is_rate_exempt(host)
        if self.under_way >= self.limit or (
            not exempt and self.by_client[client] >= self.per_client
        ):
            return None
        self.under_way += 1
        self.by_client[client] += 1
        return client

    def give_back(self, client: str) -> None:
        self.under_way -= 1
        self.by_client[client] -= 1
        if self.by_client[client] <= 0:
            del self.by_client[client]


@dataclass
class ClientRate:
    """Anvil-style rate per client in fixed one-minute windows: how many new conversations
    (mailboxes a transaction feeds, each of which may open a thread) one client may start a
    minute. Exempt clients are not counted. Memory: one counter per client seen this minute."""

    per_minute: int
    limits: AdmissionLimits
    window_seconds: float = 60.0
    _window_start: float = field(default=-1e18)
    _counts: Counter[str] = field(default_factory=Counter)

    def take(self, host: str) -> bool:
        """Count one for `host`; False (counting nothing) when its minute is used up."""
        if self.per_minute <= 0 or self.limits.is_rate_exempt(host):
            return True
        host = self.limits.client(host)
        now = time.monotonic()
        if now - self._window_start >= self.window_seconds:
            self._window_start = now
            self._counts.clear()
        if self._counts[host] >= self.per_minute:
            return False
        self._counts[host] += 1
        return True


def raise_descriptor_limit() -> int:
    """Raise the soft RLIMIT_NOFILE toward the hard limit (systemd's default soft limit is
    1 024, the hard one 524 288); returns the soft limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    ceiling = DESCRIPTOR_LIMIT_CEILING if hard == resource.RLIM_INFINITY else hard
    target = min(ceiling, DESCRIPTOR_LIMIT_CEILING)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("descriptor_limit_not_raised", soft=soft, hard=hard, error=str(exc))
    return int(soft) if soft != resource.RLIM_INFINITY else DESCRIPTOR_LIMIT_CEILING


def connection_cap(configured: int, descriptor_limit: int) -> int:
    """At most `configured` connections, and well below the descriptor limit."""
    room = max(descriptor_limit - RESERVED_DESCRIPTORS, descriptor_limit // 2)
    return max(1, min(configured, room))


def throttle_accept_errors(loop: asyncio.AbstractEventLoop) -> Any:
    """Log accept() failures for lack of descriptors or memory at most once a second, with a
    count. asyncio (3.11) logs each with a traceback, up to 100 per listener wake-up, and
    retries every second: at `ulimit -n 1024` under a flood that was ~2.8 MB of log a second.
    Every other error goes to the handler in place before. Returns that handler, for
    `loop.set_exception_handler` when the listener stops."""
    previous = loop.get_exception_handler()
    if getattr(previous, "throttles_accept_errors", False):
        return previous  # a second listener in this process: in place already
    throttled = ThrottledLog()

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if isinstance(exc, OSError) and exc.errno in ACCEPT_ERRNOS:
            throttled.warning("smtp_accept_failed", error=errno.errorcode.get(exc.errno or 0))
        elif previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    handler.throttles_accept_errors = True  # type: ignore[attr-defined]
    loop.set_exception_handler(handler)
    return previous
