"""IMAP inbound adapter: pull mail from an existing mailbox, lose none, process none twice.

Per folder, in this order and never another: fetch by UID above the checkpoint →
hand off (signal-with-start, acknowledged by Temporal) → acknowledge on the server (mark,
move or leave) → advance the checkpoint. A crash anywhere re-delivers at most the messages
of one batch, and the thread's Message-ID dedup makes a re-delivery harmless. Nothing is
selected by \\Seen, so another client reading a mail cannot hide it from us.

imapclient is blocking: each call runs on the source's own single thread, so calls on its
one connection never overlap and IDLEing sources never starve the loop's default pool.
Any error ends the session; the source reconnects with capped exponential backoff and
never gives up. Cancelling `run()` is the clean stop.

A mail that can never be handed off (use_cases/permanent_failures.py: too large for a signal,
refused by a model, an error its content provokes; or an unforeseen error on the same UID
`max_attempts` times in a row) is moved to the quarantine folder (created if missing), recorded
in the checkpoint store with its reason, and passed over: the mail behind it is read. So is a
mail whose RFC822.SIZE is over `max_message_bytes` or could never fit the disk, before it is
downloaded and before any wait for room. Temporal
not acknowledging (HandoffFailed, or any error the Temporal client raises), an OSError, a locked
or damaged store or a MemoryError is retried as long as it lasts.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, TypeVar

import structlog

from adapters.inbound.imap_batches import batches_by_size, chunks
from adapters.inbound.imap_checkpoint import Checkpoint, CheckpointStore, Quarantined
from adapters.inbound.imap_errors import session_error
from adapters.inbound.imap_session import FolderState, ImapSession
from adapters.inbound.imap_source import ImapSource
from adapters.inbound.mime import peek_message_id
from adapters.spans import traced_imap_mail
from use_cases.models import Ingested
from use_cases.permanent_failures import permanent_reason
from use_cases.ports import (
    Backpressure,
    HandoffFailed,
    ImapMetrics,
    NoMetrics,
    StorageCapacity,
)

log = structlog.get_logger()

T = TypeVar("T")
Ingest = Callable[[bytes], Awaitable[Ingested]]

BATCH_MESSAGES = 50
BATCH_BYTES = 32 * 1024 * 1024  # bounded memory: a batch holds at most this much raw mail
BACKOFF_INITIAL_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 60.0
# Servers may drop an IDLE after 30 minutes (RFC 2177 §3); NATs often much sooner.
IDLE_RENEW_SECONDS = 9 * 60.0
IDLE_SLICE_SECONDS = 1.0  # how often a blocked IDLE wait comes back to notice a stop
CANCEL_GRACE_SECONDS = 2.0
CLOSE_TIMEOUT_SECONDS = 5.0
DEFAULT_QUARANTINE_FOLDER = "mailroom-quarantine"
# An error nobody classified, on the same UID this many times in a row (a reconnect and a
# backoff between tries), is taken as permanent: that mail no longer holds up the rest.
MAX_UNFORESEEN_ATTEMPTS = 3
# Trouble of the machine, not of the mail (a full disk, a locked or damaged store, memory
# short): retried as long as it lasts, like Temporal not answering, never counted against the
# mail. sqlite3.DatabaseError covers OperationalError (locked) and a damaged file alike.
STORE_TROUBLE = (OSError, sqlite3.DatabaseError, MemoryError)


class ImapInbound:
    """One source (account + folder) feeding one mailroom mailbox."""

    def __init__(
        self,
        source: ImapSource,
        *,
        ingest: Ingest,
        checkpoints: CheckpointStore,
        batch_messages: int = BATCH_MESSAGES,
        batch_bytes: int = BATCH_BYTES,
        backoff_initial: float = BACKOFF_INITIAL_SECONDS,
        backoff_max: float = BACKOFF_MAX_SECONDS,
        idle_renew: float = IDLE_RENEW_SECONDS,
        backlog: Backpressure | None = None,
        quarantine_folder: str = DEFAULT_QUARANTINE_FOLDER,
        max_attempts: int = MAX_UNFORESEEN_ATTEMPTS,
        storage: StorageCapacity | None = None,
        max_message_bytes: int | None = None,
        metrics: ImapMetrics | None = None,
    ) -> None:
        self.metrics: ImapMetrics = metrics or NoMetrics()
        self.storage = storage
        self.max_message_bytes = max_message_bytes
        self.backlog = backlog
        self.quarantine_folder = quarantine_folder
        self.max_attempts = max_attempts
        self.quarantined = 0
        self._failures: dict[tuple[int, int], int] = {}  # (UIDVALIDITY, UID) → unforeseen errors
        self.source = source
        self.ingest = ingest
        self.checkpoints = checkpoints
        self.batch_messages = batch_messages
        self.batch_bytes = batch_bytes
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.idle_renew = idle_renew
        self.status = "starting"
        self.sessions = 0
        self.handed_off = 0
        self.idles = 0
        self._delay = backoff_initial
        self._log = log.bind(source=source.key, mailbox=source.mailbox)
        self._thread: ThreadPoolExecutor | None = None

    async def run(self) -> None:
        """Run until cancelled; errors only ever lead to a reconnect."""
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="imap")
        try:
            while True:
                try:
                    await self._session()
                except Exception as exc:
                    self.metrics.poll_failed(
                        self.source.source_name, session_error(self.status, exc)
                    )
                    self._log.warning(
                        "imap_session_failed",
                        error=f"{type(exc).__name__}: {exc}",
                        retry_in=self._delay,
                    )
                self.status = "backing_off"
                await asyncio.sleep(self._delay)
                self._delay = min(self._delay * 2, self.backoff_max)
        except asyncio.CancelledError:
            self.status = "stopped"
            self._log.info("imap_stopped")
            raise
        finally:
            self._thread.shutdown(wait=False, cancel_futures=True)

    async def _session(self) -> None:
        session = ImapSession(self.source)
        try:
            self.status = "connecting"
            await self._call(session.open)
            self.status = "selecting"  # connected and logged in: a failure now is the folder's
            move_to = self.source.move_to
            if move_to is not None and await self._call(session.ensure_folder, move_to):
                self._log.info("imap_folder_created", folder=move_to)
            self.sessions += 1
            self._log.info("imap_connected", capabilities=sorted(session.capabilities))
            while True:
                state = await self._call(session.select)
                self._delay = self.backoff_initial  # a working session resets the backoff
                checkpoint = await self._checkpoint(state)
                await self._drain(session, checkpoint)
                await asyncio.to_thread(self.checkpoints.fetched, self.source.key)
                await self._wait_for_mail(session)
        finally:
            await self._close(session)

    async def _checkpoint(self, state: FolderState) -> Checkpoint:
        saved = await asyncio.to_thread(self.checkpoints.load, self.source.key)
        if saved is not None and saved.uidvalidity == state.uidvalidity:
            return saved
        if saved is not None:
            # Every remembered UID is void (RFC 3501 §2.3.1.1): scan again from the start;
            # the threads drop the Message-IDs they already have.
            self._log.warning(
                "imap_uidvalidity_changed", old=saved.uidvalidity, new=state.uidvalidity
            )
            fresh = Checkpoint(uidvalidity=state.uidvalidity, last_uid=0)
        elif self.source.start == "new":
            fresh = Checkpoint(uidvalidity=state.uidvalidity, last_uid=state.uidnext - 1)
            self._log.info("imap_started_at_new_mail", skipped=state.exists)
        else:
            fresh = Checkpoint(uidvalidity=state.uidvalidity, last_uid=0)
        await asyncio.to_thread(self.checkpoints.save, self.source.key, fresh)
        return fresh

    async def _drain(self, session: ImapSession, checkpoint: Checkpoint) -> Checkpoint:
        self.status = "fetching"
        while True:
            uids = await self._call(session.uids_after, checkpoint.last_uid, self.source.start_date)
            if not uids:
                self.metrics.fetched(self.source.source_name, 0)  # a working poll, nothing new
                return checkpoint
            for chunk in chunks(uids, self.batch_messages):
                sizes = await self._call(session.sizes, chunk)
                for batch in batches_by_size(chunk, sizes, self.batch_bytes):
                    too_large = self._too_large(batch, sizes)
                    fitting = [sizes.get(uid, 0) for uid in batch if uid not in too_large]
                    await self._wait_for_backlog()
                    if fitting:
                        await self._wait_for_room(max(fitting))
                    checkpoint = await self._hand_off_batch(session, batch, checkpoint, too_large)

    def _too_large(self, batch: list[int], sizes: dict[int, int]) -> dict[int, str]:
        """The UIDs never to download, with why: over max_message_bytes (what SMTP refuses
        with 552: IMAP has no limit of its own), or too big for the disk even with nothing
        else on it (waiting for room would stop this source forever)."""
        limit = self.max_message_bytes
        found = {}
        for uid in batch:
            size = sizes.get(uid, 0)
            if limit is not None and size > limit:
                found[uid] = f"too large: {size} bytes, over max_message_bytes ({limit})"
            elif self.storage is not None and not self.storage.ever_room_for(size):
                found[uid] = f"too large: {size} bytes would not fit the data directory's disk"
        return found

    async def _wait_for_backlog(self) -> None:
        """Leave the mail in the mailbox while threads are behind: fetch when they catch up."""
        if self.backlog is None or not self.backlog.overloaded:
            return
        self.status = "paused: backlog"
        self._log.warning("imap_paused_backlog")
        await self.backlog.wait_until_clear()
        self._log.info("imap_resumed")
        self.status = "fetching"

    async def _wait_for_room(self, size: int) -> None:
        """Leave the mail in the mailbox while the data directory is short of space for it
        (adapters/outbound/disk_space.py, as SMTP's 452 4.3.1); look again with the
        reconnect backoff."""
        if self.storage is None or self.storage.room_for(size):
            return
        self.status = "paused: disk"
        self._log.warning("imap_paused_disk", size=size)
        delay = self.backoff_initial
        while not self.storage.room_for(size):
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.backoff_max)
        self._log.info("imap_resumed")
        self.status = "fetching"

    async def _hand_off_batch(
        self,
        session: ImapSession,
        batch: list[int],
        checkpoint: Checkpoint,
        too_large: dict[int, str],
    ) -> Checkpoint:
        wanted = [uid for uid in batch if uid not in too_large]
        bodies = await self._call(session.fetch, wanted) if wanted else {}
        if wanted:
            self.metrics.fetched(self.source.source_name, len(bodies))
        handed: list[int] = []
        passed = checkpoint.last_uid
        try:
            for uid in batch:
                if uid in too_large:
                    await self._set_aside_unread(session, checkpoint, uid, too_large[uid])
                    passed = uid
                    continue
                raw = bodies.get(uid)
                # None: expunged by someone else since the search
                if raw is not None and await self._hand_off(session, checkpoint, uid, raw):
                    handed.append(uid)
                passed = uid
        except BaseException:
            # Acknowledge what Temporal did accept, so a stop or a failed hand-off in the
            # middle of a batch re-delivers only the rest.
            if passed > checkpoint.last_uid:
                await self._acknowledge(session, handed, checkpoint, passed)
            raise
        return await self._acknowledge(session, handed, checkpoint, passed)

    @traced_imap_mail
    async def _hand_off(
        self, session: ImapSession, checkpoint: Checkpoint, uid: int, raw: bytes
    ) -> bool:
        """True once handed off, False when set aside; raises for a retry."""
        message_id = peek_message_id(raw)
        with structlog.contextvars.bound_contextvars(message_id=message_id):
            try:
                ingested = await self.ingest(raw)
            except HandoffFailed as exc:
                self._log.warning("email_deferred", uid=uid, reason=str(exc), thread_id=None)
                raise
            except Exception as exc:
                reason = self._permanent((checkpoint.uidvalidity, uid), exc)
                if reason is None:
                    raise
                record = Quarantined(checkpoint.uidvalidity, uid, message_id, reason, None)
                await self._quarantine(session, record)
                return False
            self._failures.pop((checkpoint.uidvalidity, uid), None)
            self.handed_off += 1
            for thread_id in ingested.thread_ids:
                self._log.info("email_accepted", thread_id=thread_id, uid=uid, size=len(raw))
            return True

    def _permanent(self, at: tuple[int, int], exc: Exception) -> str | None:
        """Why this UID can never be handed off, or None to retry it."""
        reason = permanent_reason(exc)
        if reason is not None or isinstance(exc, STORE_TROUBLE) or _from_temporal(exc):
            return reason
        attempts = self._failures[at] = self._failures.get(at, 0) + 1
        error = f"{type(exc).__name__}: {exc}"
        if attempts < self.max_attempts:
            self._log.warning("imap_handoff_error", uid=at[1], attempts=attempts, error=error)
            return None
        self._failures.pop(at, None)
        return f"failed {attempts} times: {error}"[:300]

    async def _set_aside_unread(
        self, session: ImapSession, checkpoint: Checkpoint, uid: int, reason: str
    ) -> None:
        """Quarantine a mail without downloading it: its header alone names it."""
        message_id = peek_message_id(await self._call(session.header, uid))
        record = Quarantined(checkpoint.uidvalidity, uid, message_id, reason, None)
        await self._quarantine(session, record)

    async def _quarantine(self, session: ImapSession, record: Quarantined) -> None:
        """Recorded first, then moved: a crash in between reads the mail again and records it
        again; a refused move leaves it where it is, passed over by the checkpoint."""
        folder = self.quarantine_folder
        store = self.checkpoints
        intent = replace(record, moved_to=folder)
        await asyncio.to_thread(store.quarantine, self.source.key, intent)
        # Moving it within its own folder would give it a new UID to read again: leave it.
        moved = folder != self.source.folder and await self._call(
            session.quarantine, record.uid, folder
        )
        if not moved:
            await asyncio.to_thread(store.quarantine, self.source.key, record)
        self.quarantined += 1
        self.metrics.quarantined(self.source.source_name)
        self._log.error(
            "email_quarantined",
            uid=record.uid,
            message_id=record.message_id,
            reason=record.reason,
            folder=folder if moved else None,
        )

    async def _acknowledge(
        self, session: ImapSession, handed: list[int], checkpoint: Checkpoint, passed: int
    ) -> Checkpoint:
        await self._call(session.acknowledge, handed)
        advanced = Checkpoint(uidvalidity=checkpoint.uidvalidity, last_uid=passed)
        await asyncio.to_thread(self.checkpoints.save, self.source.key, advanced)
        return advanced

    async def _wait_for_mail(self, session: ImapSession) -> None:
        if not (self.source.idle and session.has("IDLE")):
            self.status = "polling"
            await asyncio.sleep(self.source.poll_seconds)
            return
        await self._call(session.idle_start)
        self.idles += 1
        self.status = "idle"
        renew_at = time.monotonic() + self.idle_renew
        while time.monotonic() < renew_at:
            if await self._call(session.idle_wait, IDLE_SLICE_SECONDS):
                break
        await self._call(session.idle_done)

    async def _call(self, blocking: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        task = loop.run_in_executor(self._thread, blocking, *args)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            # A thread cannot be interrupted: let the call finish (briefly) so the
            # connection is in a known state for the logout.
            await asyncio.wait({task}, timeout=CANCEL_GRACE_SECONDS)
            if task.done() and not task.cancelled():
                task.exception()  # retrieved: nobody else will look at it
            raise

    async def _close(self, session: ImapSession) -> None:
        try:
            await asyncio.wait_for(self._call(session.close), CLOSE_TIMEOUT_SECONDS)
        except Exception as exc:  # the connection is gone either way
            self._log.debug("imap_close_failed", error=repr(exc))


def _from_temporal(exc: BaseException) -> bool:
    """Whether the Temporal client raised this (or what it caused): its own error classes, or
    a plain one from its code, such as a lazy client's RuntimeError("Failed client connect")
    while the server is down. Temporal's trouble, never the mail's: it must not count toward
    a quarantine. Told by module name, so the adapter needs no import of temporalio."""
    seen: BaseException | None = exc
    while seen is not None:
        if type(seen).__module__.split(".")[0] == "temporalio":
            return True
        trace = seen.__traceback__
        while trace is not None:
            if str(trace.tb_frame.f_globals.get("__name__", "")).split(".")[0] == "temporalio":
                return True
            trace = trace.tb_next
        seen = seen.__cause__
    return False
