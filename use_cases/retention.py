"""Retention: the blobs (raw mail, long texts, attachments) of threads completed more than
MAILROOM_RETENTION_DAYS ago are removed, as Rails Action Mailbox incinerates after 30 days.

Which blobs a thread holds is recorded in the thread index when its mail is placed
(`ThreadEntry.blobs`); whether and when a thread completed is Temporal's answer (its latest
run, so a reopened thread holds its blobs again). A blob is content-addressed and may be
held by several threads: it goes only when every thread holding it is past retention. The
purge walks the threads that hold blobs in bounded batches, reporting after each one (the
activity heartbeats there), so it can be stopped and run again at any point.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

from pydantic import BaseModel

PURGE_BATCH = 200  # threads looked at per step: one Temporal lookup each, one trip per store
ASKED_AT_ONCE = 32  # the other holders of a blob asked about at a time
# What Temporal answers for a thread it no longer knows: its history is past the
# namespace's retention, or Temporal lost it (its database reset, another server or
# namespace configured). Such a thread counts as completed when its last mail was placed
# (ThreadBlobs.last_mail_at): never sooner than retention after the mail it holds.
GONE = datetime.min.replace(tzinfo=UTC)


class ThreadBlobs(Protocol):
    """The thread index's record of which blobs each thread's mail stored."""

    async def threads_holding_blobs(self, after: str, limit: int) -> list[str]:
        """Thread (workflow) ids holding at least one blob, in id order, after `after`."""
        ...

    async def blobs_of(self, workflow_ids: Sequence[str]) -> list[str]: ...

    async def last_mail_at(self, workflow_ids: Sequence[str]) -> dict[str, datetime]:
        """When the latest mail of each of these threads was placed (the index's clock)."""
        ...

    async def holders_of(self, shas: Sequence[str]) -> dict[str, set[str]]: ...

    async def forget_blobs(self, workflow_ids: Sequence[str], keep: Sequence[str] = ()) -> None:
        """These threads hold no blob any more (their blobs were removed or stay for
        other threads), but those of `keep`, which they still hold."""
        ...


@runtime_checkable
class RemovableBlobs(Protocol):
    """A blob store's removal for good (FileBlobStore, PostgresBlobStore; a store wrapping
    one forwards these)."""

    async def sizes(self, shas: Sequence[str]) -> dict[str, int]:
        """The size of each of `shas` that is stored."""
        ...

    async def remove_for_good(
        self, shas: Sequence[str], *, settled_before: datetime | None = None
    ) -> dict[str, int]:
        """Drop the references of `shas` and remove them; the size of each removed. With
        `settled_before`, one settled since stays: another mail with the same bytes was
        handed to a thread whose index record may still be on its way."""
        ...


class ThreadCompletions(Protocol):
    async def completed_at(self, workflow_ids: Sequence[str]) -> dict[str, datetime | None]:
        """When each thread's latest run closed; None while it runs; GONE when unknown."""
        ...


class PurgeInput(BaseModel):
    """What the purge schedule starts the purge with (and `mailroom purge`)."""

    dry_run: bool = False


class PurgeReport(BaseModel):
    """What a purge removed (or, dry, would remove)."""

    dry_run: bool = False
    retention_days: int = 0
    threads: int = 0  # threads past retention whose blobs were let go
    blobs: int = 0
    bytes: int = 0


Progress = Callable[[PurgeReport], Awaitable[None] | None]


async def purge_expired(
    index: ThreadBlobs,
    blobs: RemovableBlobs,
    completions: ThreadCompletions,
    *,
    now: datetime,
    retention: timedelta,
    dry_run: bool = False,
    batch: int = PURGE_BATCH,
    progress: Progress | None = None,
) -> PurgeReport:
    """Remove the blobs every holder of which completed before `now - retention`."""
    past = PastRetention(index, completions, now - retention)
    report = PurgeReport(dry_run=dry_run, retention_days=retention.days)
    counted: set[str] = set()  # a dry run removes nothing: count each blob once
    after = ""
    while threads := await index.threads_holding_blobs(after, batch):
        after = threads[-1]
        expired = await past.of(threads)
        free = await freed_blobs(index, past, expired)
        if dry_run:
            sizes = await blobs.sizes([sha for sha in free if sha not in counted])
            counted.update(sizes)
        else:
            sizes = await blobs.remove_for_good(free, settled_before=past.cutoff) if free else {}
            await index.forget_blobs(sorted(expired), keep=await _still_stored(blobs, free, sizes))
        report = report.model_copy(
            update={
                "threads": report.threads + len(expired),
                "blobs": report.blobs + len(sizes),
                "bytes": report.bytes + sum(sizes.values()),
            }
        )
        if progress is not None:
            await _call(progress, report)
    return report


class PastRetention:
    """Which threads completed before `cutoff`, each asked of Temporal once a purge: a blob
    every thread holds (a logo in every signature) would otherwise have all its holders
    asked again in every batch, and the purge grow with the square of the threads."""

    def __init__(self, index: ThreadBlobs, completions: ThreadCompletions, cutoff: datetime):
        self.index = index
        self.completions = completions
        self.cutoff = cutoff
        self.known: dict[str, bool] = {}

    async def of(self, workflow_ids: Sequence[str]) -> set[str]:
        asked = [wid for wid in dict.fromkeys(workflow_ids) if wid not in self.known]
        if asked:
            closed = await self.completions.completed_at(asked)
            unknown = [wid for wid, at in closed.items() if at == GONE]
            if unknown:
                closed.update(await self.index.last_mail_at(unknown))
            self.known.update(
                {wid: at is not None and at <= self.cutoff for wid, at in closed.items()}
            )
        return {wid for wid in workflow_ids if self.known.get(wid, False)}

    async def all_of(self, workflow_ids: Sequence[str]) -> bool:
        """Asked a few at a time: the first thread not past retention settles it."""
        for start in range(0, len(workflow_ids), ASKED_AT_ONCE):
            chunk = workflow_ids[start : start + ASKED_AT_ONCE]
            if len(await self.of(chunk)) < len(chunk):
                return False
        return True


async def freed_blobs(index: ThreadBlobs, past: PastRetention, threads: set[str]) -> list[str]:
    """The blobs of `threads` that no other thread, open or within retention, holds."""
    if not threads:
        return []
    holders = await index.holders_of(await index.blobs_of(sorted(threads)))
    return sorted(
        [sha for sha, held_by in holders.items() if await past.all_of(sorted(held_by - threads))]
    )


async def blobs_only_held_by(index: ThreadBlobs, threads: set[str]) -> list[str]:
    """The blobs of `threads` no other thread holds (erasure)."""
    if not threads:
        return []
    holders = await index.holders_of(await index.blobs_of(sorted(threads)))
    return sorted(sha for sha, held_by in holders.items() if held_by <= threads)


async def _still_stored(
    blobs: RemovableBlobs, free: Sequence[str], removed: dict[str, int]
) -> list[str]:
    """The free blobs the store kept, stored again since the cutoff: their threads still
    hold them (a late reply recorded in a thread after Temporal said it was closed), so
    erasure finds them and a later purge looks at them again."""
    left = [sha for sha in free if sha not in removed]
    return sorted(await blobs.sizes(left)) if left else []


async def _call(progress: Progress, report: PurgeReport) -> None:
    outcome = progress(report)
    if outcome is not None:
        await outcome
