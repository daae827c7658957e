"""The purchase-order ledger's contract, on SQLite and PostgreSQL: one order per key whoever
asks and however often, numbers people can look up, the book in the order orders came."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from tests.contract.conftest import Stores
from use_cases.budgets import BudgetHolder
from use_cases.flows import CreatePurchaseOrder, LineItem, PurchaseRequest


def order(key: str, supplier: str | None = "ACME Ltd") -> CreatePurchaseOrder:
    request = PurchaseRequest(
        requester="bob@example.com",
        items=[LineItem(description="laptops", quantity=5, unit="box")],
        budget=4997.5,
        currency="EUR",
        supplier=supplier,
    )
    return CreatePurchaseOrder(po_key=key, thread_id=f"thread-{key}", request=request)


async def test_creating_an_order_twice_returns_the_first_order(stores: Stores) -> None:
    ledger = stores("ledger")
    first = await ledger.create_purchase_order(order("k1"))
    again = await ledger.create_purchase_order(order("k1", supplier="Other GmbH"))
    assert again == first
    assert first.po_number == f"PO-{datetime.now(UTC).year}-00001"
    assert first.total == 4997.5 and first.items[0].unit == "box"
    assert first.requester == "bob@example.com" and first.thread_id == "thread-k1"


async def test_nodes_creating_one_order_at_once_make_one_order(stores: Stores) -> None:
    nodes = [stores("ledger") for _ in range(4)]
    made = await asyncio.gather(*(n.create_purchase_order(order("k1")) for n in nodes * 3))
    assert len({m.po_number for m in made}) == 1
    assert [o.po_key for o in nodes[0].purchase_orders()] == ["k1"]


async def test_orders_made_at_once_get_distinct_consecutive_numbers(stores: Stores) -> None:
    nodes = [stores("ledger") for _ in range(3)]
    keys = [f"k{i}" for i in range(9)]
    made = await asyncio.gather(
        *(nodes[i % 3].create_purchase_order(order(k)) for i, k in enumerate(keys))
    )
    year = datetime.now(UTC).year
    assert sorted(m.po_number for m in made) == [f"PO-{year}-{n:05d}" for n in range(1, 10)]
    await nodes[0].create_purchase_order(order("k3"))  # a retry takes no number
    assert (await nodes[1].create_purchase_order(order("late"))).po_number == f"PO-{year}-00010"


async def test_the_book_lists_orders_in_the_order_they_were_made(stores: Stores) -> None:
    ledger = stores("ledger")
    for key in ("b", "a", "c"):
        await ledger.create_purchase_order(order(key))
    listed = stores("ledger").purchase_orders()
    assert [o.po_key for o in listed] == ["b", "a", "c"]
    assert [o.po_number[-5:] for o in listed] == ["00001", "00002", "00003"]


async def test_an_order_is_found_by_its_number_as_people_write_it(stores: Stores) -> None:
    ledger = stores("ledger")
    made = await ledger.create_purchase_order(order("k1"))
    year = made.created_at.year
    for written in (made.po_number, f"PO-{year}-1", f"po {year}/1"):
        found = await stores("ledger").purchase_order(written)
        assert found is not None and found.order == made, written
        assert (found.supplier, found.currency) == ("ACME Ltd", "EUR")
    assert await ledger.purchase_order(f"PO-{year - 1}-00001") is None
    assert await ledger.purchase_order(f"PO-{year}-00002") is None
    assert await ledger.purchase_order("invoice 12") is None


async def test_currencies_are_known_per_order(stores: Stores) -> None:
    ledger = stores("ledger")
    await ledger.create_purchase_order(order("k1"))
    assert ledger.currencies() == {"k1": "EUR"}


async def test_an_order_with_nul_bytes_in_its_text_is_kept(stores: Stores) -> None:
    odd = order("k\x00")
    odd.request.items[0].description = "lap\x00tops"
    made = await stores("ledger").create_purchase_order(odd)
    assert await stores("ledger").create_purchase_order(odd) == made
    assert made.items[0].description in {"lap\x00tops", "lap\ufffdtops"}


def spending(
    key: str, budget: float, *, cost_centre: str | None, requester: str
) -> CreatePurchaseOrder:
    request = PurchaseRequest(
        requester=requester,
        items=[LineItem(description="chairs", quantity=1)],
        budget=budget,
        cost_centre=cost_centre,
    )
    return CreatePurchaseOrder(po_key=key, thread_id=f"thread-{key}", request=request)


async def test_what_a_cost_centre_spent_counts_its_orders_only(stores: Stores) -> None:
    ledger = stores("ledger")
    await ledger.create_purchase_order(spending("a", 300, cost_centre="4711", requester="bob@x"))
    await ledger.create_purchase_order(
        spending("b", 250.5, cost_centre=" KST 4711", requester="x@y")
    )
    await ledger.create_purchase_order(spending("c", 90, cost_centre="5520", requester="bob@x"))
    await ledger.create_purchase_order(spending("d", 40, cost_centre=None, requester="bob@x"))
    since = datetime.now(UTC) - timedelta(hours=1)
    other = stores("ledger")  # another node reads what this one wrote
    assert await other.spent_since(BudgetHolder(cost_centre="4711", requester="a@b"), since) == 300
    spelled = BudgetHolder(cost_centre="kst  4711", requester="a@b")
    assert await other.spent_since(spelled, since) == 250.5
    assert await other.spent_since(BudgetHolder(cost_centre="9999", requester="bob@x"), since) == 0


async def test_requests_without_a_cost_centre_spend_their_requesters_budget(
    stores: Stores,
) -> None:
    ledger = stores("ledger")
    await ledger.create_purchase_order(spending("a", 40, cost_centre=None, requester="Bob@X"))
    await ledger.create_purchase_order(spending("b", 60.25, cost_centre="", requester="bob@x"))
    await ledger.create_purchase_order(spending("c", 500, cost_centre="4711", requester="bob@x"))
    since = datetime.now(UTC) - timedelta(hours=1)
    assert await ledger.spent_since(BudgetHolder(requester="bob@x"), since) == 100.25


async def test_orders_before_the_period_are_not_counted(stores: Stores) -> None:
    ledger = stores("ledger")
    await ledger.create_purchase_order(spending("a", 300, cost_centre="4711", requester="bob@x"))
    holder = BudgetHolder(cost_centre="4711", requester="bob@x")
    assert await ledger.spent_since(holder, datetime.now(UTC) + timedelta(minutes=1)) == 0
    assert await ledger.spent_since(holder, datetime.now(UTC) - timedelta(days=40)) == 300
