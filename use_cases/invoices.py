"""Supplier invoices: what was read from one, and how it is matched against the
purchase-order ledger. Pure, so a workflow replaying its history decides the same again.

The mails the flow sends are in use_cases/invoice_mails.py.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel, Field

from use_cases.flows import AgentUsage, PurchaseOrder
from use_cases.money import format_money

# Words that name a company's legal form, not the company: "ACME GmbH" and "Acme" are one
# supplier. Compared after dots are dropped ("S.A." is "sa", "G.m.b.H." is "gmbh").
LEGAL_FORMS = frozenset(
    "gmbh ag kg kgaa ug ohg ev ek mbh co cie corp corporation inc incorporated ltd limited llc "
    "llp lp plc sa sas sarl sasu sl srl spa bv nv oy ab as aps company".split()
)


class Invoice(BaseModel):
    """An invoice as read from a mail and its attachments. `amount` is a float, as
    PurchaseOrder.total is: both are compared as Decimal (see `match_invoice`)."""

    sender: str = ""  # who mailed it: the answer goes there
    supplier: str | None = None
    invoice_number: str | None = None
    amount: float | None = Field(default=None, ge=0)
    currency: str = "EUR"
    po_reference: str | None = None  # "PO-2026-00001", as the ledger numbers orders
    issue_date: date | None = None
    # How sure the extraction is (1: every part read unambiguously); `doubts` says why not.
    confidence: float = Field(default=1.0, ge=0, le=1)
    doubts: list[str] = Field(default_factory=list)
    usage: AgentUsage | None = None

    @property
    def missing(self) -> list[str]:
        """What an invoice cannot be booked without."""
        gaps = []
        if not self.supplier:
            gaps.append("the supplier")
        if not self.invoice_number:
            gaps.append("the invoice number")
        if self.amount is None:
            gaps.append("the amount")
        return gaps


class InvoiceDocument(BaseModel):
    """What the agent reads an invoice from: the mail's text and its attachments' text."""

    sender: str
    subject: str
    text: str


class InvoiceSettings(BaseModel):
    # How far an invoice may be from its order's total: this fraction of the total, but
    # never less than `minimum_tolerance` (rounding on a small order is not a mismatch).
    tolerance: float = Field(default=0.02, ge=0, le=1)
    minimum_tolerance: float = Field(default=1.00, ge=0)
    approvers: tuple[str, ...] = ()  # shared with procurement: the same people decide


class RecordedOrder(BaseModel):
    """A purchase order with what the ledger keeps beside it (PurchaseOrder itself travels
    in workflow histories and stays as it is): None where an older row has none."""

    order: PurchaseOrder
    supplier: str | None = None
    currency: str | None = None


class BookedInvoice(BaseModel):
    invoice_key: str
    supplier: str
    invoice_number: str
    amount: float
    currency: str
    po_number: str | None = None
    booked_at: datetime
    approved_by: str | None = None  # a person who booked it despite a mismatch


class BookInvoice(BaseModel):
    """The `book_invoice` activity's input."""

    invoice: Invoice
    po_number: str | None = None
    approved_by: str | None = None


class MatchOutcome(StrEnum):
    MATCHED = "matched"  # book it and confirm to the sender
    MISMATCH = "mismatch"  # an approver decides, told the reasons
    DUPLICATE = "duplicate"  # booked before: the sender is told so, nothing is booked
    UNREADABLE = "unreadable"  # no supplier, number or amount: it cannot even be keyed


class InvoiceMatch(BaseModel):
    outcome: MatchOutcome
    reasons: list[str] = Field(default_factory=list)
    po_number: str | None = None
    invoice_key: str | None = None
    booked: BookedInvoice | None = None  # a duplicate's first booking, when known


def supplier_key(name: str) -> str:
    """ "ACME Supplies GmbH", "Acme Supplies, G.m.b.H." and "acme supplies" → "acme supplies"."""
    plain = unicodedata.normalize("NFKD", name.casefold())
    plain = "".join(c for c in plain if not unicodedata.combining(c)).replace(".", "")
    words = re.findall(r"\w+", plain.replace("&", " "))
    while len(words) > 1 and words[-1] in LEGAL_FORMS:
        words.pop()
    return " ".join(words)


def invoice_key(supplier: str, invoice_number: str) -> str:
    """One supplier's invoice, however its number was spaced or cased: "INV 0042" is
    "inv-0042"."""
    number = re.sub(r"[\W_]+", "", invoice_number.casefold())
    return f"{supplier_key(supplier)}|{number}"


def key_of(invoice: Invoice) -> str | None:
    if not invoice.supplier or not invoice.invoice_number:
        return None
    return invoice_key(invoice.supplier, invoice.invoice_number)


def allowed_difference(total: Decimal, settings: InvoiceSettings) -> Decimal:
    relative = abs(total) * Decimal(str(settings.tolerance))
    return max(relative, Decimal(str(settings.minimum_tolerance)))


def match_invoice(
    invoice: Invoice,
    recorded: RecordedOrder | None,
    already_booked: bool,
    settings: InvoiceSettings,
    first_booking: BookedInvoice | None = None,
    invoiced_before: list[BookedInvoice] | None = None,
) -> InvoiceMatch:
    """Unreadable before duplicate before mismatch: a booked invoice is told so even when
    its order has changed since, and every mismatch reason is given at once."""
    key = key_of(invoice)
    po_number = recorded.order.po_number if recorded else invoice.po_reference
    if invoice.missing or key is None:
        reasons = [f"{gap} could not be read" for gap in invoice.missing]
        return InvoiceMatch(outcome=MatchOutcome.UNREADABLE, reasons=reasons, po_number=po_number)
    if already_booked or first_booking is not None:
        return InvoiceMatch(
            outcome=MatchOutcome.DUPLICATE,
            reasons=[f"invoice {invoice.invoice_number} was booked before"],
            po_number=first_booking.po_number if first_booking else po_number,
            invoice_key=key,
            booked=first_booking,
        )
    reasons = mismatches(invoice, recorded, settings) + _invoiced_before(invoiced_before or [])
    outcome = MatchOutcome.MISMATCH if reasons else MatchOutcome.MATCHED
    return InvoiceMatch(outcome=outcome, reasons=reasons, po_number=po_number, invoice_key=key)


def mismatches(
    invoice: Invoice, recorded: RecordedOrder | None, settings: InvoiceSettings
) -> list[str]:
    if invoice.po_reference is None:
        return ["the invoice names no purchase order"]
    if recorded is None:
        return [f"there is no purchase order {invoice.po_reference}"]
    # What the extraction was unsure of is checked by a person, too: money leaves on it.
    return [
        *_supplier_differs(invoice, recorded),
        *_currency_or_amount_differs(invoice, recorded, settings),
        *[f"not sure: {doubt}" for doubt in invoice.doubts],
    ]


def _invoiced_before(bookings: list[BookedInvoice]) -> list[str]:
    """An order is paid once: another invoice against it (a second instalment, or anyone
    who read its number) is for a person to decide."""
    return [
        f"the order was already invoiced: {b.invoice_number} from {b.supplier} over "
        f"{format_money(b.amount, b.currency)}, booked {b.booked_at:%Y-%m-%d}"
        for b in bookings
    ]


def _supplier_differs(invoice: Invoice, recorded: RecordedOrder) -> list[str]:
    po = recorded.order.po_number
    if not recorded.supplier:
        return [f"purchase order {po} names no supplier to compare with {invoice.supplier}"]
    if supplier_key(recorded.supplier) != supplier_key(invoice.supplier or ""):
        return [
            f"the invoice is from {invoice.supplier}, purchase order {po} names {recorded.supplier}"
        ]
    return []


def _currency_or_amount_differs(
    invoice: Invoice, recorded: RecordedOrder, settings: InvoiceSettings
) -> list[str]:
    po, total = recorded.order.po_number, recorded.order.total
    currency = invoice.currency.upper()
    if not recorded.currency:
        return [f"purchase order {po} records no currency to compare with {currency}"]
    if recorded.currency.upper() != currency:
        return [f"the invoice is in {currency}, purchase order {po} in {recorded.currency}"]
    if total is None or invoice.amount is None:
        return [f"purchase order {po} has no total to compare with"]
    exact, ordered = Decimal(str(invoice.amount)), Decimal(str(total))
    allowed = allowed_difference(ordered, settings)
    if abs(exact - ordered) <= allowed:
        return []
    direction = "more" if exact > ordered else "less"
    return [
        f"the invoice is for {format_money(exact, currency)}, {direction} than the "
        f"{format_money(ordered, currency)} of purchase order {po} (tolerance "
        f"{format_money(allowed, currency)})"
    ]


# -- the flow's ports -------------------------------------------------------------------
class InvoiceReader(Protocol):
    """Reads an invoice out of a mail's text (adapters/agents/invoice_reader.py)."""

    async def extract_invoice(self, document: InvoiceDocument) -> Invoice: ...


class PurchaseOrderLookup(Protocol):
    async def purchase_order(self, po_number: str) -> RecordedOrder | None:
        """The order numbered `po_number` ("PO-2026-00001"), or None if there is none."""
        ...


class InvoiceBook(Protocol):
    """The supplier invoices booked, by invoice key (normalised supplier + number)."""

    async def booked(self, invoice_key: str) -> BookedInvoice | None:
        """The booking under this key, or None if it was never booked."""
        ...

    async def book(self, entry: BookInvoice) -> BookedInvoice:
        """Idempotent by the invoice's key: booking it again returns the first booking."""
        ...

    async def booked_against(self, po_number: str) -> list[BookedInvoice]:
        """Every invoice booked against this purchase order."""
        ...


# The text layer of a PDF ("" when it has none or cannot be read).
PdfText = Callable[[bytes], str]
