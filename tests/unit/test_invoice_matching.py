"""Matching an invoice against its purchase order: what is booked by itself, what an
approver decides and why, and what was booked before; and what people are told."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from use_cases.flows import ApprovalDecision, PurchaseOrder
from use_cases.invoice_mails import (
    already_booked_answer,
    approval_request,
    booked_confirmation,
    invoice_rejection,
    sent_to_approver_answer,
    unreadable_answer,
)
from use_cases.invoices import (
    BookedInvoice,
    Invoice,
    InvoiceSettings,
    MatchOutcome,
    RecordedOrder,
    invoice_key,
    match_invoice,
    supplier_key,
)

SETTINGS = InvoiceSettings()
WHEN = datetime(2026, 3, 1, tzinfo=UTC)


def invoice(**changes: object) -> Invoice:
    fields: dict[str, object] = {
        "sender": "billing@acme.example",
        "supplier": "ACME Office Supplies Ltd",
        "invoice_number": "INV-42",
        "amount": 1000.0,
        "currency": "EUR",
        "po_reference": "PO-2026-00001",
    }
    return Invoice.model_validate(fields | changes)


def order(
    total: float | None = 1000.0,
    supplier: str | None = "Acme Office Supplies GmbH",
    currency: str | None = "EUR",
) -> RecordedOrder:
    po = PurchaseOrder(
        po_number="PO-2026-00001",
        po_key="k",
        thread_id="t",
        requester="bob@example.com",
        total=total,
        created_at=WHEN,
    )
    return RecordedOrder(order=po, supplier=supplier, currency=currency)


def test_an_invoice_matching_its_order_is_matched_with_its_key() -> None:
    match = match_invoice(invoice(), order(), False, SETTINGS)
    assert (match.outcome, match.reasons) == (MatchOutcome.MATCHED, [])
    assert match.po_number == "PO-2026-00001"
    assert match.invoice_key == "acme office supplies|inv42"


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        ("ACME Office Supplies Ltd", "acme office supplies"),
        ("Acme Office Supplies, Inc.", "ACME OFFICE SUPPLIES GMBH"),
        ("Büro Müller GmbH & Co. KG", "BÜRO MÜLLER"),
        ("Alpes Mobilier S.A.", "alpes mobilier sa"),
    ],
)
def test_supplier_names_match_whatever_their_case_punctuation_and_legal_form(
    ours: str, theirs: str
) -> None:
    assert supplier_key(ours) == supplier_key(theirs)


def test_invoice_numbers_match_whatever_their_spacing_and_case() -> None:
    assert invoice_key("ACME Ltd", "INV 0042") == invoice_key("Acme", "inv-0042")
    assert invoice_key("ACME Ltd", "INV-0042") != invoice_key("Globex", "INV-0042")


def test_an_invoice_from_another_supplier_is_a_mismatch_naming_both() -> None:
    match = match_invoice(invoice(supplier="Globex Inc"), order(), False, SETTINGS)
    assert match.outcome is MatchOutcome.MISMATCH
    assert match.reasons == [
        "the invoice is from Globex Inc, purchase order PO-2026-00001 names "
        "Acme Office Supplies GmbH"
    ]


def test_an_over_invoice_beyond_the_tolerance_names_both_amounts() -> None:
    match = match_invoice(invoice(amount=1100.0), order(), False, SETTINGS)
    assert match.outcome is MatchOutcome.MISMATCH
    assert match.reasons == [
        "the invoice is for EUR 1,100.00, more than the EUR 1,000.00 of purchase order "
        "PO-2026-00001 (tolerance EUR 20.00)"
    ]


def test_within_the_tolerance_either_way_is_matched() -> None:
    for amount in (1020.0, 980.0):
        assert match_invoice(invoice(amount=amount), order(), False, SETTINGS).reasons == []


def test_an_under_invoice_beyond_the_tolerance_is_a_mismatch() -> None:
    match = match_invoice(invoice(amount=900.0), order(), False, SETTINGS)
    assert match.outcome is MatchOutcome.MISMATCH
    assert "EUR 900.00, less than the EUR 1,000.00" in match.reasons[0]


def test_a_small_order_is_allowed_the_minimum_tolerance() -> None:
    small = order(total=10.0)
    assert match_invoice(invoice(amount=10.99), small, False, SETTINGS).reasons == []
    assert match_invoice(invoice(amount=11.01), small, False, SETTINGS).reasons != []


def test_a_stricter_tolerance_is_the_settings() -> None:
    strict = InvoiceSettings(tolerance=0.0, minimum_tolerance=0.0)
    assert match_invoice(invoice(amount=1000.01), order(), False, strict).reasons != []


def test_an_invoice_in_another_currency_is_a_mismatch() -> None:
    match = match_invoice(invoice(currency="USD"), order(), False, SETTINGS)
    assert match.reasons == ["the invoice is in USD, purchase order PO-2026-00001 in EUR"]


def test_an_order_with_no_supplier_or_currency_on_record_needs_an_approver() -> None:
    match = match_invoice(invoice(), order(supplier=None, currency=None), False, SETTINGS)
    assert match.outcome is MatchOutcome.MISMATCH and len(match.reasons) == 2


def test_an_unknown_or_missing_purchase_order_is_a_mismatch() -> None:
    unknown = match_invoice(invoice(po_reference="PO-2026-00099"), None, False, SETTINGS)
    assert unknown.reasons == ["there is no purchase order PO-2026-00099"]
    none = match_invoice(invoice(po_reference=None), None, False, SETTINGS)
    assert none.reasons == ["the invoice names no purchase order"]


def test_what_the_extraction_doubted_goes_to_an_approver() -> None:
    doubtful = invoice(doubts=["the invoice number was read without a label"])
    match = match_invoice(doubtful, order(), False, SETTINGS)
    assert match.reasons == ["not sure: the invoice number was read without a label"]


def test_an_invoice_booked_before_is_a_duplicate_even_when_it_now_mismatches() -> None:
    first = booking()
    match = match_invoice(invoice(amount=5000.0), order(), True, SETTINGS, first)
    assert match.outcome is MatchOutcome.DUPLICATE
    assert (match.booked, match.po_number) == (first, "PO-2026-00001")


def test_an_invoice_without_number_or_amount_is_unreadable() -> None:
    match = match_invoice(invoice(invoice_number=None, amount=None), order(), False, SETTINGS)
    assert match.outcome is MatchOutcome.UNREADABLE
    assert match.reasons == ["the invoice number could not be read", "the amount could not be read"]


def booking(approved_by: str | None = None) -> BookedInvoice:
    return BookedInvoice(
        invoice_key="acme office supplies|inv42",
        supplier="ACME Office Supplies Ltd",
        invoice_number="INV-42",
        amount=1000.0,
        currency="EUR",
        po_number="PO-2026-00001",
        booked_at=WHEN,
        approved_by=approved_by,
    )


def test_the_sender_is_told_what_was_booked_against_which_order() -> None:
    assert booked_confirmation(booking()) == (
        "Your invoice INV-42 from ACME Office Supplies Ltd over EUR 1,000.00 was booked "
        "against purchase order PO-2026-00001.\n"
    )
    assert "alice" not in booked_confirmation(booking("alice@example.com")), "no approver named"


def test_a_duplicate_is_answered_without_the_first_bookings_date_or_order() -> None:
    text = already_booked_answer(invoice(), booking())
    assert "was booked before" in text
    assert "2026-03-01" not in text and "PO-2026-00001" not in text


def test_a_second_invoice_against_an_order_already_invoiced_goes_to_an_approver() -> None:
    other = invoice().model_copy(update={"invoice_number": "INV-43"})
    match = match_invoice(other, order(), False, SETTINGS, invoiced_before=[booking()])
    assert match.outcome is MatchOutcome.MISMATCH
    assert match.reasons == [
        "the order was already invoiced: INV-42 from ACME Office Supplies Ltd over "
        "EUR 1,000.00, booked 2026-03-01"
    ]


def test_the_sender_of_a_mismatch_is_not_told_the_orders_figures() -> None:
    mismatched = invoice(amount=1100.0)
    match = match_invoice(mismatched, order(), False, SETTINGS)
    to_sender = sent_to_approver_answer(mismatched)
    to_approver = approval_request(mismatched, match, "thread-1")
    assert "EUR 1,000.00" not in to_sender and "with an approver" in to_sender
    assert match.reasons[0] in to_approver and "mailroom approve thread-1" in to_approver


def test_an_unreadable_invoice_and_a_rejection_say_why() -> None:
    assert "the amount" in unreadable_answer(invoice(amount=None))
    decision = ApprovalDecision(approved=False, by="alice@example.com", reason="wrong order")
    text = invoice_rejection(invoice(), decision)
    assert "alice@example.com rejected it" in text and "Reason: wrong order" in text
