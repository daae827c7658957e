"""The invoice activities over a real ledger file: an invoice mailed as a PDF is read,
matched against the order it names, booked once, and recognised when it comes again."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError

from activities.invoices import InvoiceActivities
from adapters.agents.invoice_reader import RuleInvoiceReader
from adapters.agents.pdf_text import pdf_text
from adapters.outbound.invoice_book import SqliteInvoiceBook
from adapters.outbound.ledger import SqliteLedger
from tests.fakes import FakeBlobStore
from tests.fixtures.invoices.make_pdf import text_pdf
from use_cases.flows import CreatePurchaseOrder, LineItem, PurchaseRequest
from use_cases.invoices import BookInvoice, Invoice, InvoiceSettings, MatchOutcome
from use_cases.mail import Attachment
from use_cases.models import NewMessage

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "invoices"


class Desk:
    def __init__(self, path: Path) -> None:
        self.ledger = SqliteLedger(path / "ledger.sqlite")
        self.blobs = FakeBlobStore()
        book = SqliteInvoiceBook(path / "ledger.sqlite")
        self.activities = InvoiceActivities(
            RuleInvoiceReader(), self.ledger, book, self.blobs, pdf_text, InvoiceSettings()
        )

    async def order(self, supplier: str, budget: float) -> str:
        request = PurchaseRequest(
            requester="bob@example.com",
            items=[LineItem(description="laptop stands", quantity=5)],
            budget=budget,
            supplier=supplier,
        )
        created = CreatePurchaseOrder(po_key="k1", thread_id="t1", request=request)
        return (await self.ledger.create_purchase_order(created)).po_number

    async def mail(
        self, text: str = "Please find our invoice attached.", po: str = "", **fields: object
    ) -> NewMessage:
        """The ACME invoice as a PDF attachment, naming `po` (the order the ledger gave
        this year) instead of its own PO-2026-00001 when given."""
        lines = (FIXTURES / "acme_en.pdf.txt").read_text(encoding="utf-8").splitlines()
        pdf = text_pdf([line.replace("PO-2026-00001", po or "PO-2026-00001") for line in lines])
        blob = await self.blobs.put(pdf)
        attachment = Attachment(
            filename="invoice.pdf", content_type="application/pdf", size=len(pdf), blob=blob
        )
        return NewMessage.model_validate(
            {
                "mailbox": "invoices@mailroom.local",
                "message_id": "<inv-1@acme.example>",
                "from_addr": "billing@acme.example",
                "subject": "Invoice INV-2026-0042",
                "received_at": datetime(2026, 3, 2, tzinfo=UTC),
                "text": text,
                "attachments": (attachment,),
            }
            | fields
        )


@pytest.fixture
def desk(tmp_path: Path) -> Desk:
    return Desk(tmp_path)


async def test_a_pdf_invoice_for_an_order_is_read_matched_and_booked_once(desk: Desk) -> None:
    po_number = await desk.order("ACME Office Supplies", 1190.0)
    invoice = await desk.activities.read_invoice(await desk.mail(po=po_number))
    assert (invoice.sender, invoice.invoice_number) == ("billing@acme.example", "INV-2026-0042")
    assert (invoice.amount, invoice.po_reference) == (1190.0, po_number)
    match = await desk.activities.match_invoice(invoice)
    assert (match.outcome, match.po_number) == (MatchOutcome.MATCHED, po_number)
    booked = await desk.activities.book_invoice(BookInvoice(invoice=invoice, po_number=po_number))
    retried = await desk.activities.book_invoice(BookInvoice(invoice=invoice, po_number=po_number))
    assert retried == booked and booked.invoice_key == match.invoice_key
    again = await desk.activities.match_invoice(invoice)
    assert (again.outcome, again.booked) == (MatchOutcome.DUPLICATE, booked)


async def test_an_invoice_over_the_order_goes_to_an_approver_with_the_reason(desk: Desk) -> None:
    po_number = await desk.order("ACME Office Supplies", 1000.0)
    match = await desk.activities.match_invoice(
        await desk.activities.read_invoice(await desk.mail(po=po_number))
    )
    assert match.outcome is MatchOutcome.MISMATCH
    assert "EUR 1,190.00, more than the EUR 1,000.00" in match.reasons[0]


async def test_an_invoice_naming_no_known_order_is_a_mismatch(desk: Desk) -> None:
    invoice = await desk.activities.read_invoice(await desk.mail())
    match = await desk.activities.match_invoice(invoice)
    assert match.reasons == [f"there is no purchase order {invoice.po_reference}"]


async def test_the_whole_text_is_read_when_the_signal_carried_a_preview(desk: Desk) -> None:
    whole = "Supplier: Globex Inc\nInvoice no: G-7\nPO-2026-00009\nTotal due: USD 70.00\n"
    text_blob = await desk.blobs.put(whole.encode())
    mail = await desk.mail(
        text=whole[:20], text_truncated=True, text_blob=text_blob, attachments=()
    )
    invoice = await desk.activities.read_invoice(mail)
    assert (invoice.supplier, invoice.amount, invoice.currency) == ("Globex Inc", 70.0, "USD")


async def test_a_missing_attachment_leaves_the_invoice_to_the_mail_text(desk: Desk) -> None:
    mail = await desk.mail()
    desk.blobs.blobs.clear()  # swept, or never stored here
    invoice = await desk.activities.read_invoice(mail)
    assert invoice.amount is None and "no amount was found" in invoice.doubts


async def test_an_invoice_without_number_is_never_booked_nor_retried(desk: Desk) -> None:
    unreadable = Invoice(supplier="ACME Ltd", amount=10.0)
    with pytest.raises(ApplicationError) as raised:
        await desk.activities.book_invoice(BookInvoice(invoice=unreadable))
    assert raised.value.non_retryable and "the invoice number" in str(raised.value)
