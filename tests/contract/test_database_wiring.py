"""MAILROOM_DATABASE_URL: two nodes naming one PostgreSQL see one ledger, invoice book,
sent log, thread index and caps; an unreachable database stops start-up in one line without its
password; without the setting everything stays in the data directory's SQLite files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from adapters.outbound.postgres_ledger import PostgresLedger
from adapters.outbound.smtp_sender import SmtpRelaySender
from orchestrator.bootstrap import bootstrap, close_stores
from orchestrator.settings import load_settings, masked
from orchestrator.settings_checks import secret_values
from orchestrator.startup_checks import StartupError
from tests.contract.test_ledger_contract import order
from tests.outbox_entries import sent_entry
from tests.postgres import PostgresServer
from tests.support import run_mailroom
from use_cases.models import ThreadEntry
from use_cases.reply_cap import AutomaticMailCaps


def node(monkeypatch: pytest.MonkeyPatch, data_dir: Path, url: str) -> None:
    monkeypatch.setenv("MAILROOM_DATA_DIR", str(data_dir))
    monkeypatch.setenv("MAILROOM_DATABASE_URL", url)
    monkeypatch.setenv("MAILROOM_OUTBOUND_SMTP", "127.0.0.1:2525")


async def test_two_nodes_on_one_database_share_orders_and_sent_mail(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    node(monkeypatch, tmp_path / "a", postgres_url)
    first = bootstrap(load_settings())
    node(monkeypatch, tmp_path / "b", postgres_url)
    second = bootstrap(load_settings())
    assert isinstance(second.ledger, PostgresLedger)
    made = await first.ledger.create_purchase_order(order("k1"))
    assert await second.ledger.create_purchase_order(order("k1")) == made
    assert second.ledger.purchase_orders() == [made]
    assert isinstance(first.sender, SmtpRelaySender) and isinstance(second.sender, SmtpRelaySender)
    first.sender.sent_log.record(sent_entry("<a@example.com>"))
    assert second.sender.sent_log.was_sent("<a@example.com>")
    entry = ThreadEntry(workflow_id="t1", message_ids=("<m@x>",), at=made.created_at)
    await first.threading.index.record("sales", "t1", entry)
    assert await second.threading.index.threads_of(["<m@x>"], "sales") == {"<m@x>": "t1"}
    caps = AutomaticMailCaps(per_address=1)
    assert (
        await first.auto_replies.reserve("<r1@x>", ["bot@x.example"], made.created_at, caps) is None
    )
    assert await second.auto_replies.reserve("<r2@x>", ["bot@x.example"], made.created_at, caps)
    for wiring in (first, second):
        await close_stores(wiring)
    assert not (tmp_path / "a" / "ledger.sqlite").exists()
    assert not (tmp_path / "a" / "threads.sqlite").exists()


def test_an_unreachable_database_stops_start_up_in_one_line_without_its_password(
    postgres_server: PostgresServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"postgresql://mailroom:s3cret-pass@127.0.0.1:{postgres_server.port + 1}/mailroom"
    node(monkeypatch, tmp_path, url)
    with pytest.raises(StartupError) as refused:
        bootstrap(load_settings())
    line = str(refused.value)
    assert line.startswith("MAILROOM_DATABASE_URL: ") and "\n" not in line
    assert "s3cret-pass" not in line and "refused" in line.lower()


def test_the_database_password_is_masked_in_the_shown_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MAILROOM_DATABASE_URL", "postgresql://mr:s3cret-pass@db:5432/mailroom")
    settings = load_settings()
    assert masked(settings)["MAILROOM_DATABASE_URL"] == "postgresql://mr:********@db:5432/mailroom"
    assert "s3cret-pass" in secret_values(settings)


def test_without_a_database_url_state_stays_in_the_data_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    node(monkeypatch, tmp_path, "")
    wiring = bootstrap(load_settings())
    assert wiring.ledger.purchase_orders() == []
    assert not isinstance(wiring.ledger, PostgresLedger)
    assert wiring.invoice_book is not None


async def test_mailroom_pos_on_either_node_lists_the_shared_orders(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    node(monkeypatch, tmp_path / "a", postgres_url)
    made = await bootstrap(load_settings()).ledger.create_purchase_order(order("k1"))
    env = {**os.environ, "MAILROOM_DATA_DIR": str(tmp_path / "b")}
    code, out, err = await run_mailroom("pos", env=env)
    assert code == 0, err
    assert made.po_number in out


async def test_mailroom_refuses_an_unreachable_database_with_one_line_and_exit_2(
    postgres_server: PostgresServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"postgresql://mailroom:s3cret-pass@127.0.0.1:{postgres_server.port + 1}/mailroom"
    node(monkeypatch, tmp_path, url)
    code, out, err = await run_mailroom("pos", env=dict(os.environ))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "MAILROOM_DATABASE_URL" in err and "s3cret" not in err
