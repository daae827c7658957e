"""How the IMAP adapter cuts new mail into batches: bounded in count and in bytes, so a
crash re-delivers at most one batch and a batch never holds more raw mail than a limit."""

from __future__ import annotations

from collections.abc import Iterator, Sequence


def chunks(items: Sequence[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def batches_by_size(uids: list[int], sizes: dict[int, int], limit: int) -> Iterator[list[int]]:
    """Split `uids` into batches of at most `limit` bytes (a bigger mail goes alone)."""
    batch: list[int] = []
    total = 0
    for uid in uids:
        size = sizes.get(uid, 0)
        if batch and total + size > limit:
            yield batch
            batch, total = [], 0
        batch.append(uid)
        total += size
    if batch:
        yield batch
