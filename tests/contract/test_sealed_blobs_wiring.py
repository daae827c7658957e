"""The blob stores mailroom wires (orchestrator/stores.py: blob_store) seal what they store
with the installation's keys, made once and shared like the reply-token key: a restart, a
second node on a shared MAILROOM_BLOB_DIR, and `mailroom database import` all read and
deduplicate what was stored before."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from adapters.outbound.blob_store import FileBlobStore, blobs_under
from adapters.outbound.postgres import connect, migrate
from adapters.outbound.postgres_blob_store import PostgresBlobStore
from adapters.outbound.postgres_pool import Database
from orchestrator.blob_keys import ADDRESS_KEY_FILE
from orchestrator.cli import main
from orchestrator.encryption_keys import KEY_FILE
from orchestrator.settings import load_settings
from orchestrator.stores import blob_store

BEFORE_SEALING = Path(__file__).parents[1] / "fixtures" / "data_dir_before_sealing"
OLD_RAW = (
    BEFORE_SEALING
    / "blobs"
    / "f2"
    / "f2c888663dcf468796d7d0d385375e8a51cee305cbb9cc66f1e3a3fc92a7c3a4"
)
OLD_ATTACHMENT = b"%PDF-1.4 an attachment stored plain by an older mailroom"
RAW = b"From: bob@example.com\r\nSubject: laptops for the walrus team\r\n\r\nfive please\r\n"

Store = FileBlobStore | PostgresBlobStore
Node = Callable[..., Store]


@pytest.fixture
async def node(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Node]:
    """`node(data_dir, url="", blob_dir="")`: a node's blob store as mailroom wires it."""
    made: list[Store] = []
    pools: list[Database] = []
    for name in ("MAILROOM_ENCRYPTION_KEYS", "MAILROOM_ENCRYPTION_KEYS_FILE"):
        monkeypatch.delenv(name, raising=False)

    def start(
        data_dir: Path, url: str = "", blob_dir: str = ""
    ) -> FileBlobStore | PostgresBlobStore:
        monkeypatch.setenv("MAILROOM_DATA_DIR", str(data_dir))
        monkeypatch.setenv("MAILROOM_DATABASE_URL", url)
        monkeypatch.setenv("MAILROOM_BLOB_DIR", blob_dir)
        if url:
            migrate(url)
            pools.append(Database(url))
        made.append(blob_store(load_settings(), pools[-1] if url else None))
        return made[-1]

    yield start
    for store in made:
        await store.close()
    for pool in pools:
        await pool.close()


async def test_a_node_seals_its_blobs_and_reads_them_after_a_restart(
    node: Node, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    before = node(data)
    ref = await before.keep_raw("<m@example.com>", RAW)
    await before.settle([ref])
    assert ref.sha256 != hashlib.sha256(RAW).hexdigest()
    files = [path.read_bytes() for path in (data / "blobs").rglob("*") if path.is_file()]
    assert files and not any(b"walrus" in content for content in files)
    for key in (KEY_FILE, ADDRESS_KEY_FILE):
        assert (data / key).stat().st_mode & 0o077 == 0
    after = node(data)
    assert await after.raw("<m@example.com>") == RAW
    assert (await after.put(RAW)).sha256 == ref.sha256


async def test_nodes_sharing_a_blob_dir_seal_and_name_blobs_alike(
    node: Node, tmp_path: Path, postgres_url: str
) -> None:
    mount = tmp_path / "nfs" / "blobs"
    mount.mkdir(parents=True)
    smtp_node = node(tmp_path / "a", postgres_url, str(mount))
    worker_node = node(tmp_path / "b", postgres_url, str(mount))
    first, second = await smtp_node.put(RAW), await worker_node.put(RAW)
    assert first == second and len(list(blobs_under(mount))) == 1
    assert b"walrus" not in (mount / first.sha256[:2] / first.sha256).read_bytes()
    assert await worker_node.get(first.sha256) == RAW


def run_import(monkeypatch: pytest.MonkeyPatch, data: Path, url: str) -> int:
    monkeypatch.setenv("MAILROOM_DATA_DIR", str(data))
    monkeypatch.setenv("MAILROOM_DATABASE_URL", url)
    monkeypatch.setenv("MAILROOM_BLOB_DIR", "")
    monkeypatch.chdir(data.parent)
    return main(["database", "import"])


async def test_sealed_blobs_imported_into_the_database_read_and_deduplicate(
    node: Node,
    tmp_path: Path,
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
    main_in_this_process: None,
) -> None:
    data = tmp_path / "data"
    one_box = node(data)
    ref = await one_box.keep_raw("<m@example.com>", RAW)
    await one_box.settle([ref])
    await one_box.close()
    assert run_import(monkeypatch, data, postgres_url) == 0
    on_database = node(tmp_path / "fresh", postgres_url)  # a node that never saw the data dir
    assert await on_database.raw("<m@example.com>") == RAW
    assert (await on_database.put(RAW)).sha256 == ref.sha256
    with connect(postgres_url) as db:
        assert db.execute("SELECT count(*) FROM blobs").fetchone() == (1,)


async def test_an_import_into_a_database_sealing_with_another_key_is_refused_whole(
    node: Node,
    tmp_path: Path,
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    main_in_this_process: None,
) -> None:
    node(tmp_path / "already-on-the-database", postgres_url)  # made the database's key
    data = tmp_path / "data"
    await node(data).keep_raw("<m@example.com>", RAW)
    assert run_import(monkeypatch, data, postgres_url) == 2
    err = capsys.readouterr().err
    assert "nothing imported" in err and "encryption" in err and len(err.splitlines()) == 1
    with connect(postgres_url) as db:
        assert db.execute("SELECT count(*) FROM blobs").fetchone() == (0,)


async def test_blobs_an_older_mailroom_stored_read_in_place_and_after_an_import(
    node: Node,
    tmp_path: Path,
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
    main_in_this_process: None,
) -> None:
    data = tmp_path / "data"
    shutil.copytree(BEFORE_SEALING, data)
    await reads_the_old_blobs(node(data))
    assert run_import(monkeypatch, data, postgres_url) == 0
    await reads_the_old_blobs(node(tmp_path / "fresh", postgres_url))


async def reads_the_old_blobs(store: Store) -> None:
    old_raw = OLD_RAW.read_bytes()
    old_ref = hashlib.sha256(OLD_ATTACHMENT).hexdigest()  # as the thread's history holds it
    assert await store.raw("<before-sealing@example.com>") == old_raw
    assert await store.get(hashlib.sha256(old_raw).hexdigest()) == old_raw
    assert await store.get(old_ref) == OLD_ATTACHMENT
    assert (await store.put(OLD_ATTACHMENT)).sha256 != old_ref  # new blobs: sealed, keyed
