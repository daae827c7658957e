"""Supplier invoices for the two-node test: purchase orders from ACME in the shared ledger,
and one PDF invoice by mail for each, delivered to node B's adapter while only node A's worker
runs. The adapter keeps each attachment in the shared blob store (PostgreSQL); node A's worker
reads it there, matches the order and books the invoice once."""

from __future__ import annotations

from dataclasses import dataclass
from email import policy
from email.message import EmailMessage

from adapters.outbound.postgres import connect
from adapters.outbound.postgres_ledger import PostgresLedger
from adapters.outbound.temporal_gateway import TemporalThreadGateway
from tests.faults.mta import Mail, SendingMta
from tests.fixtures.invoices.make_pdf import text_pdf
from tests.support import wait_for
from use_cases.flows import CreatePurchaseOrder, LineItem, PurchaseRequest
from use_cases.models import ThreadStatus
from use_cases.ports import ThreadNotFound
from use_cases.threading import workflow_id_for

INVOICES = "invoices@mailroom.local"
SUPPLIER = "billing@acme.example"
BOOKED_TIMEOUT = 60.0


@dataclass(frozen=True)
class SupplierInvoice:
    number: str
    po_number: str
    mail: Mail

    @property
    def thread_id(self) -> str:
        return self.mail.thread_id


async def ordered_from_acme(url: str, tag: str, count: int) -> list[str]:
    """`count` purchase orders from ACME, EUR 1,190.00 each, in the shared ledger: their
    numbers. Their threads ("acme-…") are not conversations of the test."""
    ledger = PostgresLedger(url)
    request = PurchaseRequest(
        requester="kim@corp.example",
        items=[LineItem(description="Laptop stand", quantity=5)],
        budget=1190.0,
        currency="EUR",
        supplier="ACME Office Supplies",
    )
    made = [
        await ledger.create_purchase_order(
            CreatePurchaseOrder(
                po_key=f"acme-{tag}-{n}", thread_id=f"acme-{tag}-{n}", request=request
            )
        )
        for n in range(count)
    ]
    await ledger.db.close()
    return [order.po_number for order in made]


def supplier_invoices(tag: str, po_numbers: list[str]) -> list[SupplierInvoice]:
    return [_invoice(tag, n, f"INV-2026-{n + 101:04d}", po) for n, po in enumerate(po_numbers)]


def _invoice(tag: str, n: int, number: str, po_number: str) -> SupplierInvoice:
    message_id = f"<invoice-{tag}-{n}@acme.example>"
    mail = EmailMessage()
    mail["From"] = SUPPLIER
    mail["To"] = INVOICES
    mail["Subject"] = f"Invoice {number}"
    mail["Message-ID"] = message_id
    mail.set_content("Dear accounts team,\n\nour invoice is attached.\n\nACME\n")
    mail.add_attachment(
        text_pdf(_invoice_lines(number, po_number)),
        maintype="application",
        subtype="pdf",
        filename="invoice.pdf",
    )
    raw = mail.as_bytes(policy=policy.SMTP)
    thread_id = workflow_id_for(INVOICES, message_id)
    return SupplierInvoice(number, po_number, Mail(message_id, thread_id, SUPPLIER, raw, INVOICES))


def _invoice_lines(number: str, po_number: str) -> list[str]:
    return [
        "ACME Office Supplies Ltd",
        "12 Mill Road, Cambridge CB1 2AB",
        "INVOICE",
        f"Invoice No.: {number}",
        "Invoice date: 2026-03-02",
        f"Your order: {po_number}",
        "Bill to: Mailroom GmbH, Hauptstr. 1, Berlin",
        "5 x Laptop stand                      EUR 200.00",
        "Subtotal                              EUR 1,000.00",
        "VAT 19%                               EUR 190.00",
        "Total due                             EUR 1,190.00",
    ]


async def deliver(port: int, invoices: list[SupplierInvoice]) -> SendingMta:
    """Every invoice accepted by the adapter on `port`."""
    mta = SendingMta(port, [i.mail for i in invoices], rate=10.0, clients=2)
    mta.start()
    try:
        await wait_for(lambda: mta.done, timeout=60, what="every invoice accepted")
    finally:
        mta.stop()
    return mta


async def booked(gateway: TemporalThreadGateway, invoices: list[SupplierInvoice]) -> None:
    """Every invoice's thread completed at stage "booked"."""

    async def all_booked() -> bool:
        for invoice in invoices:
            try:
                state = await gateway.get(invoice.thread_id)
            except ThreadNotFound:
                return False
            if state.status is not ThreadStatus.COMPLETED or state.stage != "booked":
                return False
        return True

    await wait_for(all_booked, timeout=BOOKED_TIMEOUT, what="every invoice booked")


def invoice_book(url: str) -> list[tuple[str, str | None]]:
    """(invoice number, purchase order) of each booking in the shared invoice book."""
    with connect(url) as db:
        rows = db.execute("SELECT invoice_number, po_number FROM invoices ORDER BY seq").fetchall()
    return [(str(number), po) for number, po in rows]
