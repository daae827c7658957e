"""Mail loops that survive a responder which strips Auto-Submitted and threading headers.

Every MTA that relays a message adds a `Received:` line (RFC 5321 §4.4); a message that has
been around more than `MAX_HOPS` times is going in circles. Postfix rejects it
(`hopcount_limit`, 50); mailroom takes it, so nothing is lost, and never answers it, so the
circle ends here.
"""

from __future__ import annotations

import re

MAX_HOPS = 50
RECEIVED = re.compile(rb"^received[ \t]*:", re.IGNORECASE | re.MULTILINE)


def received_hops(raw: bytes) -> int:
    """`Received:` lines in the header block (the body's quoted headers do not count)."""
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        end = raw.find(b"\n\n")
    head = raw if end < 0 else raw[:end]
    return len(RECEIVED.findall(head))


def loop_reason(raw: bytes) -> str | None:
    """Why `raw` is looping (never to be answered), or None."""
    hops = received_hops(raw)
    return f"mail loop: {hops} Received headers (over {MAX_HOPS})" if hops > MAX_HOPS else None
