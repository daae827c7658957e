"""Erasure (GDPR Art. 17): everything mailroom keeps of one person, found by their address
and removed, or where it must stay, said why.

A thread only that person took part in (our mailboxes aside) goes whole: its index rows, the
blobs no other thread holds, its workflow executions (every run, and its flows' children).
A thread shared with others keeps working for them without the person: its state and its
flow's drop their mail and address (use_cases/forgetting.py) and continue as new, and every
earlier run, which recorded them, is deleted; the blobs of their own mail go; the person is
dropped from its index participants. A flow that cannot pause before it ends (a purchase
waiting for its approval) holds them until then: the thread stays found by their address,
and erasing again once it has ended finishes the work. The relay's sent log, the
automatic-mail log and the outbox lose every row or mail to or from them; purchase orders
keep their number, amounts and items (bookkeeping law keeps a ledger for years) and lose the
requester's address, as booked invoices lose the approver's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from pydantic import BaseModel, Field

from use_cases.mailboxes import normalize_address

ERASED = "(erased)"  # what a purchase order's requester becomes


class PersonThread(BaseModel):
    mailbox: str
    workflow_id: str
    participants: list[str] = Field(default_factory=list)
    shared: bool = False  # someone besides the person (and our mailboxes) took part


class ErasureReport(BaseModel):
    address: str
    dry_run: bool = False
    removed: dict[str, int] = Field(default_factory=dict)  # "<store>: <what>" → count
    shared_threads: list[str] = Field(default_factory=list)  # kept for their other people
    # shared threads (or their flows) whose current run still holds the person's mail: a
    # flow that cannot rest before it ends; erasing again once it has deletes that run
    holding: list[str] = Field(default_factory=list)


class PersonRecords(Protocol):
    """The stores' records of one person (SQLite in the data dir, or PostgreSQL)."""

    async def threads_of(self, address: str) -> list[PersonThread]: ...
    async def remove_threads(
        self, threads: Sequence[PersonThread], address: str, *, dry_run: bool
    ) -> int: ...
    async def remove_sent(self, address: str, *, dry_run: bool) -> int: ...
    async def remove_automatic_mail(self, capped: str, *, dry_run: bool) -> int: ...
    async def anonymise_orders(self, address: str, *, dry_run: bool) -> int: ...
    async def anonymise_invoices(self, address: str, *, dry_run: bool) -> int: ...


def erasure_address(address: str) -> str:
    """The form every store is searched with; ValueError for what is not an address."""
    local, at, domain = address.strip().strip("<>").rpartition("@")
    if not (at and local and domain) or any(
        c.isspace() or not c.isprintable() for c in address.strip()
    ):
        raise ValueError(f"--address {address.strip()[:100]!r} is not an email address")
    return normalize_address(f"{local}@{domain}")


def with_sharing(
    threads: Sequence[PersonThread], address: str, ours: Callable[[str], bool]
) -> list[PersonThread]:
    """Each thread marked shared when someone besides `address` and our mailboxes is in it."""
    return [
        thread.model_copy(
            update={
                "shared": any(
                    normalize_address(p) != address and not ours(p) for p in thread.participants
                )
            }
        )
        for thread in threads
    ]


def their_blobs_only(
    theirs: Mapping[str, set[str]], holders: Mapping[str, set[str]], alone: set[str]
) -> list[str]:
    """The blobs of the person's own mail in shared threads (`theirs`: thread → blobs)
    that no one else's mail holds: each thread holding one (`holders`: blob → threads) is
    a thread of theirs alone, or a shared thread where that blob is their mail's. The same
    bytes sent by someone else, in another thread, stay."""
    candidates = set().union(*theirs.values()) if theirs else set()
    return sorted(
        sha
        for sha in candidates
        if all(t in alone or sha in theirs.get(t, set()) for t in holders.get(sha, set()))
    )
