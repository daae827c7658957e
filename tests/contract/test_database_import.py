"""`mailroom database import`: a one-box installation moved to PostgreSQL keeps its state.
Its data directory is filled through the SQLite adapters, imported, and read back through
the PostgreSQL adapters; a second import copies nothing, a database holding other data under
the same keys is refused whole, and --dry-run only counts."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.inbound.imap_checkpoint import Checkpoint, Quarantined, SqliteCheckpointStore
from adapters.inbound.postgres_imap_checkpoint import PostgresCheckpointStore
from adapters.outbound.blob_store import FileBlobStore
from adapters.outbound.invoice_book import SqliteInvoiceBook
from adapters.outbound.ledger import SqliteLedger
from adapters.outbound.postgres import connect, migrate
from adapters.outbound.postgres_blob_store import PostgresBlobStore
from adapters.outbound.postgres_invoice_book import PostgresInvoiceBook
from adapters.outbound.postgres_ledger import PostgresLedger
from adapters.outbound.postgres_sent_log import PostgresSentLog
from adapters.outbound.postgres_shared_secret import shared_secret
from adapters.outbound.postgres_thread_index import PostgresThreadIndex
from adapters.outbound.smtp_sender import SentLog
from adapters.outbound.thread_blobs import PostgresThreadBlobs
from adapters.outbound.thread_index import SqliteThreadIndex
from orchestrator.cli import main
from tests.contract.test_ledger_contract import order
from tests.outbox_entries import sent_entry
from use_cases.invoices import BookInvoice, Invoice, invoice_key
from use_cases.models import ThreadEntry

LAST_YEAR = datetime(2025, 12, 30, 9, 0, tzinfo=UTC)
RAW = b"From: bob@example.com\r\nSubject: laptops\r\n\r\nfive please\r\n"


async def fill_data_dir(data: Path) -> None:
    """Two orders of 2025 and one of this year, an invoice, sent mail, a thread holding a
    raw mail, an IMAP checkpoint and a quarantined mail: all through the SQLite adapters."""
    ledger = SqliteLedger(data / "ledger.sqlite")
    for key in ("k1", "k2", "k3"):
        await ledger.create_purchase_order(order(key))
    with sqlite3.connect(data / "ledger.sqlite") as db:  # as if made last December
        db.execute(
            "UPDATE purchase_orders SET created_at = ? WHERE seq < 3", (LAST_YEAR.isoformat(),)
        )
    invoice = Invoice(supplier="ACME Ltd", invoice_number="INV-1", amount=99.5, currency="EUR")
    await SqliteInvoiceBook(data / "ledger.sqlite").book(
        BookInvoice(invoice=invoice, po_number="PO-2025-00001")
    )
    sent = SentLog(data / "sent.sqlite")
    sent.record(sent_entry("<r1@mailroom.local>"))
    sent.record(sent_entry("<r2@mailroom.local>", minutes=5))
    index = SqliteThreadIndex(data / "threads.sqlite")
    entry = ThreadEntry(workflow_id="t1", message_ids=("<m1@x>",), at=LAST_YEAR, blobs=("ab",))
    await index.record("sales", "t1", entry)
    await index.close()
    imap = SqliteCheckpointStore(data / "imap.sqlite")
    imap.save("inbox", Checkpoint(uidvalidity=7, last_uid=42))
    imap.quarantine("inbox", Quarantined(7, 40, "<bad@x>", "unparseable", "Quarantine"))
    (data / "reply-token.key").write_text("ab" * 32)
    blobs = FileBlobStore(data / "blobs")
    ref = await blobs.keep_raw("<m1@x>", RAW)
    await blobs.settle([ref])  # the thread holds it


@pytest.fixture(autouse=True)
def _in_process(main_in_this_process: None) -> None:
    """`main` runs in this process here (tests/conftest.py)."""


def run_import(monkeypatch: pytest.MonkeyPatch, data: Path, url: str, *args: str) -> int:
    monkeypatch.setenv("MAILROOM_DATA_DIR", str(data))
    monkeypatch.setenv("MAILROOM_DATABASE_URL", url)
    monkeypatch.chdir(data.parent)
    return main(["database", "import", *args])


@pytest.fixture
async def data_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    await fill_data_dir(data)
    return data


async def test_an_imported_installation_keeps_its_orders_threads_mail_and_blobs(
    data_dir: Path,
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run_import(monkeypatch, data_dir, postgres_url) == 0
    out = capsys.readouterr().out
    assert "ledger: copied 3" in out and "sent: copied 2" in out and "blobs: copied" in out
    ledger = PostgresLedger(postgres_url)
    year = datetime.now(UTC).year
    numbers = [o.po_number for o in ledger.purchase_orders()]
    assert numbers == ["PO-2025-00001", "PO-2025-00002", f"PO-{year}-00003"]
    assert ledger.currencies()["k1"] == "EUR"
    new = await ledger.create_purchase_order(order("k4"))
    assert new.po_number == f"PO-{year}-00004"
    found = await ledger.purchase_order("PO-2025-00002")
    assert found is not None and found.order.po_key == "k2" and found.supplier == "ACME Ltd"
    booked = await PostgresInvoiceBook(postgres_url).booked(invoice_key("ACME Ltd", "INV-1"))
    assert booked is not None and booked.amount == 99.5
    sent = PostgresSentLog(postgres_url)
    assert sent.was_sent("<r1@mailroom.local>") and sent.was_sent("<r2@mailroom.local>")
    assert [e.subject for e in sent.entries()] == ["Re: Monitors", "Re: Monitors"]
    index = PostgresThreadIndex(postgres_url)
    assert await index.threads_of(["<m1@x>"], "sales") == {"<m1@x>": "t1"}
    assert await PostgresThreadBlobs(index).holders_of(["ab"]) == {"ab": {"t1"}}  # retention
    await index.close()
    imap = PostgresCheckpointStore(postgres_url)
    assert imap.load("inbox") == Checkpoint(uidvalidity=7, last_uid=42)
    assert [q.uid for q in imap.quarantined("inbox")] == [40]
    blobs = PostgresBlobStore(postgres_url)
    assert await blobs.raw("<m1@x>") == RAW
    await blobs.close()
    # replies to mail signed before the move still match their thread by token
    assert shared_secret(postgres_url, "reply-token") == b"ab" * 32


async def test_a_second_import_copies_nothing(
    data_dir: Path,
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run_import(monkeypatch, data_dir, postgres_url) == 0
    capsys.readouterr()
    assert run_import(monkeypatch, data_dir, postgres_url) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 9 and all(line.endswith(": copied 0") for line in out), out
    assert len(PostgresLedger(postgres_url).purchase_orders()) == 3


async def test_a_database_holding_a_number_for_another_request_is_refused_whole(
    data_dir: Path,
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    migrate(postgres_url)
    await PostgresLedger(postgres_url).create_purchase_order(order("someone-else"))
    # what the node already on PostgreSQL numbered PO-2025-00001
    with connect(postgres_url) as db:
        db.execute("UPDATE purchase_orders SET year = 2025")
    assert run_import(monkeypatch, data_dir, postgres_url) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nothing imported" in err and "purchase_orders" in err
    assert [o.po_key for o in PostgresLedger(postgres_url).purchase_orders()] == ["someone-else"]
    assert not PostgresSentLog(postgres_url).was_sent("<r1@mailroom.local>")


async def test_a_dry_run_counts_and_writes_nothing(
    data_dir: Path,
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    migrate(postgres_url)
    assert run_import(monkeypatch, data_dir, postgres_url, "--dry-run") == 0
    out = capsys.readouterr().out
    assert "ledger: would copy 3" in out and "sent: would copy 2" in out
    assert PostgresLedger(postgres_url).purchase_orders() == []


async def test_an_import_without_a_database_url_fails_in_one_line(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_import(monkeypatch, data_dir, "") == 2
    assert "MAILROOM_DATABASE_URL is not set" in capsys.readouterr().err


async def test_an_unreachable_database_fails_in_one_line(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = "postgresql://mailroom:secret@127.0.0.1:1/nowhere?connect_timeout=2"
    assert run_import(monkeypatch, data_dir, url) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "secret" not in err


async def test_a_sent_log_from_an_older_release_is_imported_with_what_it_kept(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    with sqlite3.connect(data / "sent.sqlite") as db:  # Message-IDs and times only
        db.execute("CREATE TABLE sent (message_id TEXT PRIMARY KEY, sent_at TEXT NOT NULL)")
        db.execute("INSERT INTO sent VALUES (?, ?)", ("<old@x>", LAST_YEAR.isoformat()))
    assert run_import(monkeypatch, data, postgres_url) == 0
    assert PostgresSentLog(postgres_url).was_sent("<old@x>")


async def test_a_message_placed_in_another_thread_is_refused(
    data_dir: Path,
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    migrate(postgres_url)
    index = PostgresThreadIndex(postgres_url)
    entry = ThreadEntry(workflow_id="t9", message_ids=("<m1@x>",), at=LAST_YEAR)
    await index.record("sales", "t9", entry)
    await index.close()
    assert run_import(monkeypatch, data_dir, postgres_url) == 2
    assert "thread_messages" in capsys.readouterr().err
    assert PostgresLedger(postgres_url).purchase_orders() == []


async def test_blobs_in_a_shared_blob_dir_stay_where_they_are(
    data_dir: Path,
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MAILROOM_BLOB_DIR", str(data_dir / "blobs"))
    assert run_import(monkeypatch, data_dir, postgres_url) == 0
    assert "blobs: stay in MAILROOM_BLOB_DIR" in capsys.readouterr().out
    with connect(postgres_url) as db:
        assert db.execute("SELECT count(*) FROM blobs").fetchone() == (0,)


async def test_a_missing_data_directory_fails_in_one_line(
    tmp_path: Path,
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run_import(monkeypatch, tmp_path / "nowhere", postgres_url) == 2
    assert "MAILROOM_DATA_DIR" in capsys.readouterr().err
