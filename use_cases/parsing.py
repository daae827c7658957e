"""Where a received mail is parsed: on the event loop when it is small, elsewhere when not.

The loop also answers every other SMTP client and IMAP source of the process, so it may only
spend what a small mail costs: up to `PARSE_ON_LOOP_BYTES` even the worst case (an HTML
table, about 1 µs of CPU a byte) stays under 10 ms, and a plain-text mail costs less than
handing it over would (docs/performance.md).
Bigger mail goes to the parser's own `off_loop` when it has one (the parse pool: worker
processes, a CPU budget per mail), else to a thread (which still holds the GIL for
pure-Python work, so the loop slows down but keeps answering).
"""

from __future__ import annotations

import asyncio
from typing import Protocol, runtime_checkable

from use_cases.mail import InboundEmail
from use_cases.ports import EmailParser

PARSE_ON_LOOP_BYTES = 8 * 1024


@runtime_checkable
class OffLoopParser(Protocol):
    """An EmailParser that can also parse away from the event loop."""

    def __call__(self, raw: bytes) -> InboundEmail: ...

    async def off_loop(self, raw: bytes) -> InboundEmail: ...


async def parse_mail(parse: EmailParser, raw: bytes) -> InboundEmail:
    if len(raw) <= PARSE_ON_LOOP_BYTES:
        return parse(raw)
    if isinstance(parse, OffLoopParser):
        return await parse.off_loop(raw)
    return await asyncio.to_thread(parse, raw)
