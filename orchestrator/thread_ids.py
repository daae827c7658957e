"""How an operator names a thread on the command line: its whole id, a unique prefix of it
that reaches at least `MIN_HASH_CHARS` characters into the hash part
(`thread-support@mailroom.local-3fe1`), a prefix of the hash part alone of at least as many
hex characters (`3fe1c85a`), or its ticket reference (`K7Q2MX`; written `#K7Q2MX` or
`[#k7q2mx]` it names a reference only, never a prefix). `mailroom approve 3` names nothing:
a one-character prefix would act on a thread the operator never meant. A name that fits
several threads (of any status) is refused with the candidates, never guessed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Protocol

from orchestrator.cli_errors import CliError
from use_cases.threading import THREAD_HASH_CHARS
from use_cases.tickets import LENGTH as REFERENCE_CHARS
from use_cases.tickets import ticket_reference

# A whole workflow id (use_cases/threading.py: thread-<mailbox>-<16 hex>): used as it is,
# without listing every thread first.
WHOLE_ID = re.compile(rf"^thread-.+-[0-9a-f]{{{THREAD_HASH_CHARS}}}$")
MIN_HASH_CHARS = 4  # 65 536 values: two threads of one mailbox rarely share them
HEX = re.compile(rf"^[0-9a-f]{{{MIN_HASH_CHARS},{THREAD_HASH_CHARS}}}$")
# "#K7Q2MX", "[#K7Q2MX]": a ticket reference, written as the subject shows it.
WRITTEN_REFERENCE = re.compile(r"^(?:#\s*(\S+)|\[\s*#\s*(\S+?)\s*\])$")
SHOWN_CANDIDATES = 10


class ThreadIds(Protocol):
    async def thread_ids(self) -> list[str]:
        """The id of every thread, whatever its status (a name must be unique among all)."""
        ...


async def resolve_thread(gateway: ThreadIds, text: str) -> str:
    """The id of the one thread `text` names; CliError (exit 2) for none or several."""
    name = text.strip()
    if WHOLE_ID.match(name):
        return name
    ids = await gateway.thread_ids()
    return chosen(name, matching_threads(name, ids), ids)


def matching_threads(text: str, thread_ids: Iterable[str]) -> list[str]:
    """The ids `text` names, in the order given: the id itself (then only it), a prefix of
    the id or of its hash part (long enough: module docstring), or its ticket reference."""
    ids = list(thread_ids)
    name = text.strip()
    if name in ids:
        return [name]
    written = WRITTEN_REFERENCE.match(name)
    if written:
        reference = (written.group(1) or written.group(2)).upper()
        return [i for i in ids if is_reference(reference, i)]
    return [i for i in ids if names(name, i)]


def names(name: str, thread_id: str) -> bool:
    """Whether the bare `name` is `thread_id`'s reference or a long enough prefix."""
    lowered = name.lower()
    hash_starts = len(thread_id) - THREAD_HASH_CHARS
    if len(lowered) >= hash_starts + MIN_HASH_CHARS and thread_id.lower().startswith(lowered):
        return True
    if HEX.match(lowered) and thread_id[hash_starts:].startswith(lowered):
        return True
    return is_reference(name.upper(), thread_id)


def is_reference(name: str, thread_id: str) -> bool:
    return len(name) == REFERENCE_CHARS and ticket_reference(thread_id) == name


def chosen(text: str, candidates: list[str], thread_ids: Iterable[str] = ()) -> str:
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise CliError(unmatched(text, list(thread_ids)))
    raise CliError(
        f"{text!r} matches {len(candidates)} threads: {listing(candidates)}; give more of the id"
    )


def unmatched(text: str, thread_ids: list[str]) -> str:
    """Why `text` names no thread: too short to name one (it starts some ids, or is a few
    hash characters), or nothing like it."""
    name = text.strip().lower()
    short_hash = re.fullmatch(rf"[0-9a-f]{{1,{MIN_HASH_CHARS - 1}}}", name)
    starting = [
        i
        for i in thread_ids
        if name
        and (i.lower().startswith(name) or (short_hash and i[-THREAD_HASH_CHARS:].startswith(name)))
    ]
    if not starting and not short_hash:
        return f"no thread matches {text!r} (`mailroom threads` lists them)"
    noun = "thread" if len(starting) == 1 else "threads"
    starts = f"; it starts {len(starting)} {noun}: {listing(starting)}" if starting else ""
    return (
        f"{text!r} is too short to name a thread: give at least {MIN_HASH_CHARS} characters "
        f"of the hash part, or the {REFERENCE_CHARS}-character reference (#K7Q2MX){starts}"
    )


def listing(thread_ids: list[str]) -> str:
    """At most `SHOWN_CANDIDATES` ids with their references, and how many more."""
    shown = ", ".join(
        f"{thread_id} [#{ticket_reference(thread_id)}]"
        for thread_id in thread_ids[:SHOWN_CANDIDATES]
    )
    more = len(thread_ids) - SHOWN_CANDIDATES
    return shown + (f" and {more} more" if more > 0 else "")
