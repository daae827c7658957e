"""Where a node keeps raw mail and attachments (orchestrator/stores.py: blob_store): what one
node's SMTP adapter stores, another node's worker reads, in the shared PostgreSQL or in a
MAILROOM_BLOB_DIR both mount; and a node shut down leaves no connection open on the database."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from orchestrator.bootstrap import Wiring, bootstrap, close_stores
from orchestrator.settings import load_settings
from tests.support import wait_for


def node(monkeypatch: pytest.MonkeyPatch, data_dir: Path, url: str, blob_dir: str = "") -> Wiring:
    monkeypatch.setenv("MAILROOM_DATA_DIR", str(data_dir))
    monkeypatch.setenv("MAILROOM_DATABASE_URL", url)
    monkeypatch.setenv("MAILROOM_BLOB_DIR", blob_dir)
    return bootstrap(load_settings())


def connections_to(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as admin:
        row = admin.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    return int(row[0]) if row else 0


async def test_a_blob_one_node_stores_is_read_by_another_from_the_database(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    smtp_node = node(monkeypatch, tmp_path / "a", postgres_url)
    worker_node = node(monkeypatch, tmp_path / "b", postgres_url)
    ref = await smtp_node.blobs.keep_raw("<m@example.com>", b"raw mail")
    await smtp_node.blobs.settle([ref])
    assert await worker_node.blobs.get(ref.sha256) == b"raw mail"
    assert await worker_node.blobs.raw("<m@example.com>") == b"raw mail"
    assert not (tmp_path / "a" / "blobs").exists()
    for wiring in (smtp_node, worker_node):
        await close_stores(wiring)


async def test_a_blob_one_node_stores_is_read_by_another_from_a_shared_blob_dir(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mount = tmp_path / "nfs" / "mailroom-blobs"
    mount.mkdir(parents=True)  # the share, mounted
    smtp_node = node(monkeypatch, tmp_path / "a", postgres_url, str(mount))
    worker_node = node(monkeypatch, tmp_path / "b", postgres_url, str(mount))
    ref = await smtp_node.blobs.put(b"attachment")
    await smtp_node.blobs.settle([ref])
    assert await worker_node.blobs.get(ref.sha256) == b"attachment"
    assert (mount / ref.sha256[:2] / ref.sha256).exists()
    assert (
        not (tmp_path / "a" / "blobs").exists()
        and not (tmp_path / "a" / "blob_refs.sqlite").exists()
    )
    for wiring in (smtp_node, worker_node):
        await close_stores(wiring)


async def test_a_node_shut_down_leaves_no_connection_open_on_the_database(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wiring = node(monkeypatch, tmp_path, postgres_url)
    await wiring.blobs.put(b"uses the asyncio pool")
    assert wiring.ledger.purchase_orders() == []  # the threaded pool
    assert connections_to(postgres_url) >= 2
    await close_stores(wiring)
    await wait_for(
        lambda: connections_to(postgres_url) == 0, what="the node's connections to close"
    )
