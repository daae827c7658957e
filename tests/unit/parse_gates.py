"""Parsers for the parse pool's tests, importable by name in its worker processes."""

from __future__ import annotations

import os
import re
import socket

from adapters.inbound.mime import parse_email
from use_cases.mail import InboundEmail

GATE = re.compile(rb"^X-Gate: (\d+)\r?$", re.MULTILINE)


def parse_when_released(raw: bytes) -> InboundEmail:
    """A mail naming a port in `X-Gate:` is parsed once the test's listener on that port,
    which sees this parse begin, closes the connection: a parse as long as the test wants."""
    gate = GATE.search(raw)
    if gate is not None:
        with socket.create_connection(("127.0.0.1", int(gate[1])), timeout=60) as waiting:
            waiting.recv(1)
    return parse_email(raw)


def die_on_poison(raw: bytes) -> InboundEmail:
    """A worker killed under a mail (out of memory, a crash in C code), as the adapter sees it."""
    if b"X-Poison: yes" in raw:
        os._exit(70)
    return parse_email(raw)


def spin_when_asked(raw: bytes) -> InboundEmail:
    """A parse that never ends on a mail saying `X-Spin: yes`: only a CPU budget stops it."""
    if b"X-Spin: yes" in raw:
        while True:
            pass
    return parse_email(raw)
