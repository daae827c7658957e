"""What refused mail leaves on disk, and what recording blob references costs
(not a timed test; prints JSON).

    python -m bench.disk [--refusals N] [--mails N] [--rounds N]

Compares, in the same run on the same mail, the real FileBlobStore with `unrecorded`: the
same store with pinning, settling and releasing switched off (what the store did before
references were recorded: a refused mail's blobs stayed).
- `refused_bytes`: bytes added under the data directory by N mails refused with
  PayloadTooLarge (each carries 1 MB of attachments, one of them shared with an accepted
  mail), the references database not counted;
- `ingest_ms`: wall time per accepted mail through ingest (parse, claim-check with fsyncs,
  hand-off to a fake gateway), a 40 KB attachment each; the best of the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from adapters.inbound.mime import parse_email
from adapters.outbound.blob_store import FileBlobStore
from adapters.outbound.blob_writes import BlobWrite, write_group
from tests.fakes import FakeThreadGateway
from tests.unit.test_blob_cleanup import SUPPORT, attachment, mail, refused_mail
from use_cases.claim_check import PayloadTooLarge
from use_cases.ingest import ingest_email
from use_cases.mail import BlobRef


class Unrecorded(FileBlobStore):
    """The store as it was: nothing recorded, nothing removed."""

    async def put(self, data: bytes) -> BlobRef:
        ref = BlobRef.model_validate({"sha256": _sha(data), "size": len(data)})
        write = BlobWrite(self.path_of(ref.sha256), data, ref.sha256)
        await asyncio.to_thread(write_group, [write], self._is_there)
        return ref

    async def settle(self, refs: Sequence[BlobRef]) -> None:
        return None

    async def release(self, refs: Sequence[BlobRef], *, message_id: str | None = None) -> None:
        return None


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def disk_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and "sqlite" not in p.name)


async def refused_bytes(store: FileBlobStore, refusals: int) -> int:
    gateway = FakeThreadGateway()
    accepted = mail("<accepted@example.com>", [attachment("shared.pdf", b"shared" * 500)])
    await ingest_email(
        accepted, mailboxes=[SUPPORT], gateway=gateway, parse=parse_email, blobs=store
    )
    before = disk_bytes(store.root.parent)
    for n in range(refusals):
        raw = refused_mail(f"<refused-{n}@example.com>")
        with contextlib.suppress(PayloadTooLarge):
            await ingest_email(
                raw, mailboxes=[SUPPORT], gateway=gateway, parse=parse_email, blobs=store
            )
    return disk_bytes(store.root.parent) - before


async def ingest_ms(store: FileBlobStore, mails: int) -> float:
    gateway = FakeThreadGateway()
    raws = [
        mail(f"<m{n}@example.com>", [attachment("a.bin", os.urandom(40_000))]) for n in range(mails)
    ]
    started = time.perf_counter()
    for raw in raws:
        await ingest_email(
            raw, mailboxes=[SUPPORT], gateway=gateway, parse=parse_email, blobs=store
        )
    return (time.perf_counter() - started) / mails * 1000


async def measure(refusals: int, mails: int, rounds: int) -> dict[str, object]:
    """Both stores in alternation, `rounds` times each; the best round of each counts (the
    machine's other load only ever adds time)."""
    kinds: dict[str, type[FileBlobStore]] = {"unrecorded": Unrecorded, "recorded": FileBlobStore}
    refused: dict[str, int] = {}
    best: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as data_dir:
        stores = {name: kind(Path(data_dir) / name / "blobs") for name, kind in kinds.items()}
        for name, store in stores.items():
            refused[name] = await refused_bytes(store, refusals)
        for _ in range(rounds):
            for name, store in stores.items():
                per_mail = await ingest_ms(store, mails)
                best[name] = min(best.get(name, per_mail), per_mail)
        for store in stores.values():
            await store.close()
    figures: dict[str, object] = {
        name: {"refused_bytes": refused[name], "ingest_ms": round(best[name], 2)} for name in kinds
    }
    figures["refusals"] = refusals
    figures["ingest_ratio"] = round(best["recorded"] / best["unrecorded"], 2)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.disk", description=__doc__)
    parser.add_argument("--refusals", type=int, default=5)
    parser.add_argument("--mails", type=int, default=50, help="accepted mails per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure(args.refusals, args.mails, args.rounds))))


if __name__ == "__main__":
    main()
