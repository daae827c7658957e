"""What a PostgreSQL call costs the adapters (not a timed test; prints JSON).

    python -m bench.database [--calls N]

Starts a throwaway PostgreSQL (tests/postgres.py: Debian's postgresql package) and times,
against it over TCP on 127.0.0.1, per call: creating a purchase order (PostgresLedger),
checking the relay's sent log (PostgresSentLog.was_sent) and reading a blob
(PostgresBlobStore.get, 40 KB), the median of N calls after a warm-up.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from collections.abc import Awaitable, Callable

from adapters.outbound.postgres import migrate
from adapters.outbound.postgres_ledger import PostgresLedger
from adapters.outbound.postgres_sent_log import PostgresSentLog
from tests.postgres import running_postgres
from use_cases.flows import CreatePurchaseOrder, LineItem, PurchaseRequest


async def median_ms(call: Callable[[int], Awaitable[object]], calls: int) -> float:
    await call(-1)  # warm-up: connections, prepared types
    times = []
    for i in range(calls):
        start = time.perf_counter()
        await call(i)
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 3)


def order(i: int) -> CreatePurchaseOrder:
    item = LineItem.model_validate({"description": "laptop", "quantity": 1})
    request = PurchaseRequest(requester="alice@example.com", items=[item], budget=1200.0)
    return CreatePurchaseOrder(po_key=f"po-{i}", thread_id=f"t-{i}", request=request)


async def measure(url: str, calls: int) -> dict[str, float]:
    ledger, sent = PostgresLedger(url), PostgresSentLog(url)
    results = {
        "po_create_ms": await median_ms(lambda i: ledger.create_purchase_order(order(i)), calls),
        "sent_log_check_ms": await median_ms(
            lambda i: asyncio.to_thread(sent.was_sent, f"<{i}@x>"), calls
        ),
    }
    try:
        from adapters.outbound.postgres_blob_store import PostgresBlobStore
    except ImportError:  # a build before blobs lived in PostgreSQL
        return results
    blobs = PostgresBlobStore(url)
    ref = await blobs.put(os.urandom(40 * 1024))
    results["blob_get_40k_ms"] = await median_ms(lambda i: blobs.get(ref.sha256), calls)
    await blobs.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=200)
    calls = parser.parse_args().calls
    with running_postgres() as server:
        url = server.create_database()
        migrate(url)
        print(json.dumps({"calls": calls, **asyncio.run(measure(url, calls))}))


if __name__ == "__main__":
    main()
