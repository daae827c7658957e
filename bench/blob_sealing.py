"""What sealing blobs at rest costs per mail (issue 22; not part of `make bench`; prints JSON).

    python -m bench.blob_sealing [--kb 50] [--rounds 2000]

In the same run, on the same bytes: naming a blob by its sha256 (what mailroom did before)
against naming it by HMAC-SHA256 and sealing it with AES-256-GCM (`BlobSealing.seal`), and
reading it back (`BlobSealing.open`); then a whole `FileBlobStore.put` of a new mail (fsyncs
included) without and with sealing, alternated, best of 5 rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from adapters.outbound.blob_sealing import BlobSealing
from adapters.outbound.blob_store import FileBlobStore
from adapters.outbound.key_ring import KeyRing


def per_call_us(call: Callable[[], object], rounds: int) -> float:
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(rounds):
            call()
        best = min(best, (time.perf_counter() - start) / rounds)
    return best * 1e6


async def put_ms(store: FileBlobStore, size: int, mails: int) -> float:
    payloads = [os.urandom(size) for _ in range(mails)]  # new bytes: every put writes
    start = time.perf_counter()
    for data in payloads:
        await store.put(data)
    return (time.perf_counter() - start) / mails * 1e3


async def puts(sealing: BlobSealing, size: int) -> dict[str, float]:
    best = {"plain": float("inf"), "sealed": float("inf")}
    with tempfile.TemporaryDirectory() as scratch:
        stores = {
            "plain": FileBlobStore(Path(scratch) / "plain" / "blobs"),
            "sealed": FileBlobStore(Path(scratch) / "sealed" / "blobs", sealing=sealing),
        }
        for _ in range(5):
            for name, store in stores.items():
                best[name] = min(best[name], await put_ms(store, size, 50))
        for store in stores.values():
            await store.close()
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kb", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2000)
    args = parser.parse_args()
    sealing = BlobSealing(KeyRing((("k0", os.urandom(32)),)), os.urandom(32))
    mail = os.urandom(args.kb * 1024)
    ref, stored = sealing.seal(mail)
    figures = {
        "kb": args.kb,
        "sha256_us": per_call_us(lambda: hashlib.sha256(mail).hexdigest(), args.rounds),
        "hmac_us": per_call_us(lambda: sealing.address(mail), args.rounds),
        "seal_us": per_call_us(lambda: sealing.seal(mail), args.rounds),
        "open_us": per_call_us(lambda: sealing.open(ref.sha256, stored), args.rounds),
        "stored_overhead_bytes": len(stored) - len(mail),
    }
    put = asyncio.run(puts(sealing, args.kb * 1024))
    figures |= {"put_plain_ms": put["plain"], "put_sealed_ms": put["sealed"]}
    for name, value in figures.items():
        print(f"{name}: {value:.1f}" if isinstance(value, float) else f"{name}: {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
