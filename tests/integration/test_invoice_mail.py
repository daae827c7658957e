"""A supplier's invoice as a PDF attachment, over real SMTP to invoices@: the attachment goes
to the blob store, the invoice flow reads its text layer, matches the purchase order in the
ledger and books it once; the supplier gets one confirmation."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from adapters.outbound.invoice_book import SqliteInvoiceBook
from tests.stack import running_stack, stack_settings
from tests.support import wait_for
from use_cases.flows import CreatePurchaseOrder, LineItem, PurchaseRequest
from use_cases.models import ThreadState, ThreadStatus
from use_cases.threading import workflow_id_for

INVOICES = "invoices@mailroom.local"
SUPPLIER = "billing@acme.example"
PDF = Path(__file__).parents[1] / "fixtures" / "invoices" / "acme_en.pdf"


def invoice_mail(message_id: str) -> bytes:
    mail = EmailMessage()
    mail["From"] = SUPPLIER
    mail["To"] = INVOICES
    mail["Subject"] = "Invoice INV-2026-0042"
    mail["Message-ID"] = message_id
    mail.set_content("Dear accounts team,\n\nour invoice is attached.\n\nACME\n")
    mail.add_attachment(
        PDF.read_bytes(), maintype="application", subtype="pdf", filename="invoice.pdf"
    )
    return mail.as_bytes()


async def test_a_pdf_invoice_by_mail_is_matched_booked_and_confirmed(
    dev_server: WorkflowEnvironment, tmp_path: Path, task_queue: str, unique: str
) -> None:
    settings = stack_settings(
        tmp_path, dev_server.client, task_queue, mailboxes=[INVOICES, "support@mailroom.local"]
    )
    async with running_stack(dev_server.client, settings) as stack:
        order = PurchaseRequest(
            requester="kim@corp.example",
            items=[LineItem(description="Laptop stand", quantity=5)],
            budget=1190.0,
            currency="EUR",
            supplier="ACME Office Supplies",
        )
        created = await stack.wiring.ledger.create_purchase_order(
            CreatePurchaseOrder(po_key=f"k-{unique}", thread_id="t", request=order)
        )
        root = f"<invoice-{unique}@acme.example>"
        await stack.send(invoice_mail(root), [INVOICES], sender=SUPPLIER)
        thread_id = workflow_id_for(INVOICES, root)

        state = await wait_for(lambda: _booked(stack.gateway.get, thread_id), what="booking")
        assert state.flow == "invoices" and state.facts["po_number"] == created.po_number
        booked = await SqliteInvoiceBook(tmp_path / "ledger.sqlite").booked(
            str(state.facts["invoice_key"])
        )
        assert booked is not None and booked.amount == 1190.0
        confirmations = [e for e in stack.wiring.outbox.entries() if "-booked-" in e.message_id]
        assert [list(e.to) for e in confirmations] == [[SUPPLIER]]


async def _booked(get: object, thread_id: str) -> ThreadState | None:
    state = await get(thread_id)  # type: ignore[operator]
    assert isinstance(state, ThreadState)
    done = state.status is ThreadStatus.COMPLETED and state.stage == "booked"
    return state if done else None
