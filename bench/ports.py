"""Free ports for servers the benchmarks and the tests start, chosen where nothing else will
pick them.

Ports handed out come from below the kernel's ephemeral range. A port the kernel picks for
`bind(0)` or an outgoing connection is in that range, and the Temporal dev server picks
several of its own there (metrics, membership) after we chose ours: a port taken from the
same range was, once in a few hundred runs, taken before the SMTP listener bound it
("mailroom up exited early", CI of stop 26; a bench smoke test's `mailroom smtp` refusing
its port as in use).
"""

from __future__ import annotations

import functools
import random
import socket
from pathlib import Path


def _ephemeral_floor() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


@functools.cache
def _test_ports() -> range:  # read when first asked, not at import
    floor = _ephemeral_floor()
    return range(max(floor - 12000, 1024), floor)


_handed_out: set[int] = set()
_chooser = random.SystemRandom()  # pytest-randomly reseeds `random` for every test


def free_port() -> int:
    """A port free now on 127.0.0.1, never handed out before in this run, outside the
    ephemeral range where the kernel and the servers under test pick their own."""
    ports = _test_ports()
    if len(ports) < 1000:  # no usable range below the ephemeral one: let the kernel pick
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            return int(probe.getsockname()[1])
    while True:
        port = _chooser.choice(ports)
        if port in _handed_out:
            continue
        _handed_out.add(port)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
