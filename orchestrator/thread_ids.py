"""How an operator names a thread on the command line: its whole id, any unique prefix of
it, its hash part alone (`3fe1c85a`), or its ticket reference (`K7Q2MX`, `#K7Q2MX`,
`[#k7q2mx]`). A name that fits several threads is refused with the candidates, never guessed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Protocol

from orchestrator.cli_errors import CliError
from use_cases.threading import THREAD_HASH_CHARS
from use_cases.tickets import ticket_reference

# A whole workflow id (use_cases/threading.py: thread-<mailbox>-<16 hex>): used as it is,
# without listing every thread first.
WHOLE_ID = re.compile(rf"^thread-.+-[0-9a-f]{{{THREAD_HASH_CHARS}}}$")
HEX = re.compile(r"^[0-9a-f]+$")
SHOWN_CANDIDATES = 10


class ThreadIds(Protocol):
    async def thread_ids(self) -> list[str]:
        """The id of every thread, open or completed."""
        ...


async def resolve_thread(gateway: ThreadIds, text: str) -> str:
    """The id of the one thread `text` names; CliError (exit 2) for none or several."""
    name = text.strip()
    if WHOLE_ID.match(name):
        return name
    return chosen(name, matching_threads(name, await gateway.thread_ids()))


def matching_threads(text: str, thread_ids: Iterable[str]) -> list[str]:
    """The ids `text` names, in the order given: the id itself (then only it), a prefix of
    the id or of its hash part, or its ticket reference."""
    ids = list(thread_ids)
    if text in ids:
        return [text]
    name = bare(text)
    if not name:
        return []
    return [i for i in ids if names(name, i)]


def names(name: str, thread_id: str) -> bool:
    lowered = name.lower()
    if thread_id.lower().startswith(lowered):
        return True
    thread_hash = thread_id.rpartition("-")[2]
    if HEX.match(lowered) and thread_hash.startswith(lowered):
        return True
    return ticket_reference(thread_id) == name.upper()


def bare(text: str) -> str:
    """`text` without the brackets and `#` a reference is written with (`[#K7Q2MX]`)."""
    name = text.strip()
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1].strip()
    return name.removeprefix("#").strip()


def chosen(text: str, candidates: list[str]) -> str:
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise CliError(f"no thread matches {text!r} (`mailroom threads` lists them)")
    shown = ", ".join(
        f"{thread_id} [#{ticket_reference(thread_id)}]"
        for thread_id in candidates[:SHOWN_CANDIDATES]
    )
    more = len(candidates) - SHOWN_CANDIDATES
    rest = f" and {more} more" if more > 0 else ""
    raise CliError(
        f"{text!r} matches {len(candidates)} threads: {shown}{rest}; give more of the id"
    )
