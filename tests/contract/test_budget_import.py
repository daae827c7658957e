"""`mailroom database import` keeps what each order spent of which budget: a one-box
installation moved to PostgreSQL still counts its orders against their cost centre."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.outbound.ledger import SqliteLedger
from adapters.outbound.postgres_ledger import PostgresLedger
from orchestrator.cli import main
from tests.contract.test_ledger_contract import spending
from use_cases.budgets import BudgetHolder


async def test_imported_orders_still_spend_their_cost_centres_budget(
    tmp_path: Path,
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
    main_in_this_process: None,
) -> None:
    data = tmp_path / "data"
    ledger = SqliteLedger(data / "ledger.sqlite")
    await ledger.create_purchase_order(spending("a", 300, cost_centre="4711", requester="bob@x"))
    await ledger.create_purchase_order(spending("b", 40, cost_centre=None, requester="bob@x"))
    monkeypatch.setenv("MAILROOM_DATA_DIR", str(data))
    monkeypatch.setenv("MAILROOM_DATABASE_URL", postgres_url)
    monkeypatch.chdir(tmp_path)
    assert main(["database", "import"]) == 0
    since = datetime.now(UTC) - timedelta(hours=1)
    moved = PostgresLedger(postgres_url)
    assert await moved.spent_since(BudgetHolder(cost_centre="4711", requester="x"), since) == 300
    assert await moved.spent_since(BudgetHolder(requester="bob@x"), since) == 40
