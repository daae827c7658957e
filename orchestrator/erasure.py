"""`mailroom erase`'s work (use_cases/erasure.py) over the process's stores and Temporal:
what each store held of the person, removed (or, dry, counted), store by store."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from adapters.outbound.person_records import SqlitePersonRecords, remove_outbox_mail
from adapters.outbound.postgres_person_records import PostgresPersonRecords
from adapters.outbound.temporal_erasure import TemporalThreadErasure
from adapters.outbound.temporal_forgetting import TemporalForgetting
from orchestrator.bootstrap import gateway
from orchestrator.purge import removable, thread_blobs
from use_cases.erasure import (
    ErasureReport,
    PersonRecords,
    erasure_address,
    their_blobs_only,
    with_sharing,
)
from use_cases.reply_cap import capped_address
from use_cases.retention import blobs_only_held_by

if TYPE_CHECKING:
    from temporalio.client import Client

    from orchestrator.bootstrap import Wiring


def person_records(wiring: Wiring) -> PersonRecords:
    if wiring.database is not None:
        return PostgresPersonRecords(wiring.database)
    return SqlitePersonRecords(wiring.settings.data_dir)


async def erase_person(
    wiring: Wiring, client: Client, address: str, *, dry_run: bool
) -> ErasureReport:
    """Raises ValueError for what is not an address. Temporal first: a thread terminated
    records nothing more of the person while the stores are cleared."""
    person = erasure_address(address)
    records = person_records(wiring)
    threads = with_sharing(
        await records.threads_of(person),
        person,
        lambda participant: wiring.mailboxes.resolve(participant) is not None,
    )
    alone = {t.workflow_id for t in threads if not t.shared}
    temporal = TemporalThreadErasure(client)
    executions = await temporal.executions_of(sorted(alone))
    deleted = len(executions) if dry_run else await temporal.delete(executions)
    shared = sorted(t.workflow_id for t in threads if t.shared)
    forgetting = TemporalForgetting(client, gateway(wiring, client))
    rewritten, holding, still_found = 0, [], set()
    their_blobs: dict[str, set[str]] = {}
    for workflow_id in shared:
        their_blobs[workflow_id] = await forgetting.their_blobs(workflow_id, person)
        forgotten = await forgetting.forget_in(workflow_id, person, dry_run=dry_run)
        rewritten += forgotten.runs_deleted
        holding += forgotten.holding
        if forgotten.holding:  # the index still finds it for them: erasing again ends it
            still_found.add(workflow_id)
    blobs, freed = await _erase_blobs(wiring, alone, dry_run=dry_run)
    shared_blobs, shared_freed = await _erase_their_blobs(
        wiring, their_blobs, alone, dry_run=dry_run
    )
    removed = {
        "temporal: workflow executions deleted": deleted,
        "temporal: earlier runs of shared threads deleted": rewritten,
        "thread index: threads removed": await records.remove_threads(
            [t for t in threads if t.workflow_id not in still_found], person, dry_run=dry_run
        ),
        "thread index: shared threads they were dropped from": len(shared) - len(still_found),
        "blobs: removed": blobs,
        "blobs: bytes freed": freed,
        "blobs: their mail in shared threads removed": shared_blobs,
        "blobs: bytes of it freed": shared_freed,
        **await _erase_records(records, wiring.outbox.root, person, dry_run=dry_run),
    }
    return ErasureReport(
        address=person, dry_run=dry_run, removed=removed, shared_threads=shared, holding=holding
    )


async def _erase_records(
    records: PersonRecords, outbox: Path, person: str, *, dry_run: bool
) -> dict[str, int]:
    return {
        "sent log: rows removed": await records.remove_sent(person, dry_run=dry_run),
        "automatic-mail log: rows removed": await records.remove_automatic_mail(
            capped_address(person), dry_run=dry_run
        ),
        "ledger: purchase orders without their requester": await records.anonymise_orders(
            person, dry_run=dry_run
        ),
        "invoice book: invoices without their approver": await records.anonymise_invoices(
            person, dry_run=dry_run
        ),
        "outbox: mails removed": await asyncio.to_thread(
            remove_outbox_mail, outbox, person, dry_run=dry_run
        ),
    }


async def _erase_blobs(wiring: Wiring, threads: set[str], *, dry_run: bool) -> tuple[int, int]:
    index = thread_blobs(wiring.threading.index)
    only_theirs = await blobs_only_held_by(index, threads)
    sizes = await _removed(wiring, only_theirs, dry_run=dry_run)
    if not dry_run:
        await index.forget_blobs(sorted(threads))
    return len(sizes), sum(sizes.values())


async def _erase_their_blobs(
    wiring: Wiring, theirs: dict[str, set[str]], alone: set[str], *, dry_run: bool
) -> tuple[int, int]:
    """The person's own mail and attachments in shared threads: removed where no other
    mail holds the same bytes (use_cases/erasure.py `their_blobs_only`)."""
    candidates = sorted(set().union(*theirs.values())) if theirs else []
    if not candidates:
        return 0, 0
    index = thread_blobs(wiring.threading.index)
    free = their_blobs_only(theirs, await index.holders_of(candidates), alone)
    sizes = await _removed(wiring, free, dry_run=dry_run)
    if not dry_run:
        for workflow_id, shas in theirs.items():  # the thread holds none of theirs any more
            held = await index.blobs_of([workflow_id])
            keep = [sha for sha in held if sha not in shas]
            await index.forget_blobs([workflow_id], keep=keep)
    return len(sizes), sum(sizes.values())


async def _removed(wiring: Wiring, shas: list[str], *, dry_run: bool) -> dict[str, int]:
    """The size of each blob removed for good (dry: each that would be)."""
    store = removable(wiring.blobs)
    if dry_run:
        return await store.sizes(shas)
    return await store.remove_for_good(shas) if shas else {}
