"""What the invoice flow tells people by mail: pure text, so workflow replays build the
same mails. The sender (often the supplier) is never told the order's own figures or the
mismatch reasons: those go to the approver only."""

from __future__ import annotations

from use_cases.flows import ApprovalDecision
from use_cases.invoices import BookedInvoice, Invoice, InvoiceMatch
from use_cases.money import format_money


def describe(invoice: Invoice) -> str:
    """ "invoice INV-0042 from ACME GmbH over EUR 1,234.50" """
    number = invoice.invoice_number or "(no number)"
    supplier = invoice.supplier or "an unknown supplier"
    return f"invoice {number} from {supplier} over {format_money(invoice.amount, invoice.currency)}"


def booked_confirmation(booked: BookedInvoice) -> str:
    """Who approved it stays inside: the sender learns only what they sent was booked."""
    against = f" against purchase order {booked.po_number}" if booked.po_number else ""
    return (
        f"Your invoice {booked.invoice_number} from {booked.supplier} over "
        f"{format_money(booked.amount, booked.currency)} was booked{against}.\n"
    )


def already_booked_answer(invoice: Invoice, first: BookedInvoice | None) -> str:
    """No date or order of the first booking: anyone who guesses a supplier and a number
    would learn them."""
    return (
        f"Your {describe(invoice)} was booked before. "
        "It is not booked a second time, and will be paid once.\n"
    )


def stopped_answer(invoice: Invoice) -> str:
    return (
        f"Your {describe(invoice)} was not booked: an operator stopped its processing. "
        "Please contact us if you think this is wrong.\n"
    )


def sent_to_approver_answer(invoice: Invoice) -> str:
    return (
        f"Thank you for your {describe(invoice)}. It needs a check by a person before it is "
        "booked; it is with an approver now, and you will hear from us.\n"
    )


def unreadable_answer(invoice: Invoice) -> str:
    gaps = ", ".join(invoice.missing) or "its details"
    return (
        f"We could not read {gaps} from your invoice, so it was not booked. Please send it "
        "again as text or as a PDF with a text layer, naming the purchase order.\n"
    )


def approval_request(invoice: Invoice, match: InvoiceMatch, thread_id: str) -> str:
    """What the approver is asked: every reason the invoice was not booked by itself."""
    reasons = "".join(f"  - {reason}\n" for reason in match.reasons)
    return (
        f"{invoice.sender or 'Someone'} sent {describe(invoice)}, naming purchase order "
        f"{invoice.po_reference or '(none)'}. It was not booked, because:\n{reasons}\n"
        f"Reply 'approve' to book it anyway, or 'reject', or run "
        f"`mailroom approve {thread_id}`.\n"
    )


def invoice_rejection(invoice: Invoice, decision: ApprovalDecision) -> str:
    reason = f"\nReason: {decision.reason}" if decision.reason else ""
    return f"Your {describe(invoice)} was not booked: {decision.by} rejected it.{reason}\n"
