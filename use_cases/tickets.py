"""Ticket references: the short, stable name a person uses for a thread ("[#K7Q2MX]").

A reference is derived from the thread's workflow id, so every process (and workflow
replay) computes the same one without a counter to share. Six characters of an alphabet
without look-alikes (no I, L, O, U, 0, 1) give 30 bits: two threads share one with even
odds only past ~38 000 threads in one mailbox, and a reference that names two threads is
refused as ambiguous, never guessed.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache

ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 6
# "[#K7Q2MX]" anywhere in a subject; case-insensitive, as people retype them.
IN_SUBJECT = re.compile(rf"\[#([{ALPHABET}]{{{LENGTH}}})\]", re.IGNORECASE)


# A thread's workflow tasks name its reference several times each (the Web UI's details, the
# notices' subjects): a pure function of the id, computed once per thread a worker has busy.
@lru_cache(maxsize=4096)
def ticket_reference(thread_id: str) -> str:
    number = int.from_bytes(hashlib.sha256(thread_id.encode()).digest()[:8], "big")
    chars = []
    for _ in range(LENGTH):
        number, digit = divmod(number, len(ALPHABET))
        chars.append(ALPHABET[digit])
    return "".join(chars)


def reference_in(subject: str) -> str | None:
    """The ticket reference a subject carries, upper-cased, if any."""
    found = IN_SUBJECT.search(subject)
    return found.group(1).upper() if found else None


def references_in(subject: str) -> list[str]:
    """Every ticket reference a subject carries, upper-cased, in order."""
    return [found.upper() for found in IN_SUBJECT.findall(subject)]


def tagged_subject(subject: str, reference: str) -> str:
    """The subject with its reference, added once: not again when it is there already,
    after another thread's reference ("Fwd: [#ABCDEF] … [#K7Q2MX]") too."""
    if reference.upper() in references_in(subject):
        return subject
    return f"{subject} [#{reference}]" if subject else f"[#{reference}]"
