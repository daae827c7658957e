"""Supplier-invoice side effects: reading an invoice out of a mail and its attachments,
matching it against the purchase-order ledger, booking it.

The settings (tolerance) are the worker's own: a changed tolerance applies to the next
match after a worker restart, also for an invoice already waiting."""

from __future__ import annotations

import asyncio

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.heartbeat import heartbeats
from use_cases.invoices import (
    BookedInvoice,
    BookInvoice,
    Invoice,
    InvoiceBook,
    InvoiceDocument,
    InvoiceMatch,
    InvoiceReader,
    InvoiceSettings,
    PdfText,
    PurchaseOrderLookup,
    key_of,
    match_invoice,
)
from use_cases.mail import Attachment
from use_cases.models import NewMessage
from use_cases.ports import BlobNotFound, BlobStore

# An attachment this big is no invoice (and its text would swamp the agent).
MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024
MAX_DOCUMENT_CHARS = 200_000


class InvoiceActivities:
    def __init__(
        self,
        reader: InvoiceReader,
        orders: PurchaseOrderLookup,
        book: InvoiceBook,
        blobs: BlobStore,
        pdf_text: PdfText,
        settings: InvoiceSettings,
    ) -> None:
        self.reader = reader
        self.orders = orders
        self.book = book
        self.blobs = blobs
        self.pdf_text = pdf_text
        self.settings = settings

    @activity.defn(name="invoice_read")
    async def read_invoice(self, message: NewMessage) -> Invoice:
        """The invoice in the mail's whole text and its PDF and text attachments."""
        async with heartbeats():  # an LLM over HTTP, PDFs: seconds, not minutes
            parts = [await self._mail_text(message)]
            for attachment in message.attachments:
                parts.append(await self._attachment_text(attachment))
            text = "\n\n".join(part for part in parts if part.strip())[:MAX_DOCUMENT_CHARS]
            document = InvoiceDocument(sender=message.from_addr, subject=message.subject, text=text)
            return Invoice.model_validate(await self.reader.extract_invoice(document))

    @activity.defn(name="invoice_match")
    async def match_invoice(self, invoice: Invoice) -> InvoiceMatch:
        """Against the ledger as it is now: the order named, and the invoice's booking."""
        reference = invoice.po_reference
        recorded = await self.orders.purchase_order(reference) if reference else None
        key = key_of(invoice)
        first = await self.book.booked(key) if key else None
        before = await self.book.booked_against(recorded.order.po_number) if recorded else []
        return match_invoice(invoice, recorded, first is not None, self.settings, first, before)

    @activity.defn(name="invoice_book")
    async def book_invoice(self, entry: BookInvoice) -> BookedInvoice:
        """Idempotent by the invoice key: a retry, or the same invoice mailed again, returns
        the first booking."""
        if key_of(entry.invoice) is None or entry.invoice.amount is None:
            missing = ", ".join(entry.invoice.missing)
            raise ApplicationError(
                f"an invoice without {missing} cannot be booked",
                type="UnbookableInvoice",
                non_retryable=True,
            )
        return await self.book.book(entry)

    async def _mail_text(self, message: NewMessage) -> str:
        if not (message.text_truncated and message.text_blob):
            return message.text
        try:  # the signal carried a preview: the whole text is in the blob store
            return (await self.blobs.get(message.text_blob.sha256)).decode("utf-8", "replace")
        except BlobNotFound:
            return message.text

    async def _attachment_text(self, attachment: Attachment) -> str:
        if attachment.blob is None or attachment.blob.size > MAX_ATTACHMENT_BYTES:
            return ""
        kind = attachment.content_type.lower()
        is_pdf = kind == "application/pdf" or attachment.filename.lower().endswith(".pdf")
        if not (is_pdf or kind.startswith("text/plain")):
            return ""
        try:
            data = await self.blobs.get(attachment.blob.sha256)
        except BlobNotFound:
            activity.logger.warning("invoice attachment %s is gone", attachment.blob.sha256)
            return ""
        if is_pdf:
            return await asyncio.to_thread(self.pdf_text, data)
        return data.decode("utf-8", "replace")
