"""What the offline agent reads from supplier invoices: text mails and PDF text layers, in
English, German and French, amounts in every thousands style, and doubts for guesses."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.agents.invoice_extraction import extract_invoice
from adapters.agents.invoice_reader import RuleInvoiceReader
from adapters.agents.pdf_text import pdf_text
from tests.fixtures.invoices.make_pdf import text_pdf
from use_cases.invoices import Invoice, InvoiceDocument

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "invoices"
SENDER = "billing@acme-supplies.example"


async def read(text: str, subject: str = "Invoice", sender: str = SENDER) -> Invoice:
    return await RuleInvoiceReader().extract_invoice(
        InvoiceDocument(sender=sender, subject=subject, text=text)
    )


def fixture_text(name: str) -> str:
    path = FIXTURES / name
    return pdf_text(path.read_bytes()) if name.endswith(".pdf") else path.read_text()


@pytest.mark.parametrize(
    ("name", "supplier", "number", "amount", "currency", "po"),
    [
        ("acme_en.pdf", "ACME Office Supplies Ltd", "INV-2026-0042", 1190.0, "EUR", 1),
        ("buero_de.pdf", "Büro Müller GmbH & Co. KG", "RE-7781", 2380.0, "EUR", 2),
        ("globex_en.txt", "Globex Corporation Inc", "GX-10417", 1400.0, "USD", 3),
        ("schreiner_de.txt", "Schreinerei Holzmann GmbH", "2026/118", 2499.0, "EUR", 4),
        ("alpes_fr.txt", "Alpes Mobilier SA", "F-2026-311", 1081.0, "CHF", 5),
    ],
)
async def test_the_fixture_invoices_are_read_completely_and_with_certainty(
    name: str, supplier: str, number: str, amount: float, currency: str, po: int
) -> None:
    invoice = await read(fixture_text(name))
    assert (invoice.supplier, invoice.invoice_number) == (supplier, number)
    assert (invoice.amount, invoice.currency) == (amount, currency)
    assert invoice.po_reference == f"PO-2026-{po:05d}"
    assert (invoice.confidence, invoice.doubts) == (1.0, [])


LAYOUTS = [
    (
        "INVOICE\nAcme Corp\nInvoice #1234\nP.O. Number: PO-2026-00012\n"
        "Description Qty Unit Price Amount\nWidget 10 $5.00 $50.00\nSubtotal $50.00\n"
        "Tax (8%) $4.00\nTotal $54.00\nBalance Due $54.00",
        ("Acme Corp", "1234", 54.0, "USD", "PO-2026-00012"),
    ),
    (
        "Rechnung\nMustermann AG · Musterstraße 1 · 10115 Berlin\nRechnungsnr. 2026-0815\n"
        "Bestell-Nr.: PO-2026-00013\nPos. Menge Bezeichnung Einzelpreis Gesamtpreis\n"
        "1 2 Stühle 150,00 € 300,00 €\nNetto 300,00 €\nUSt. 19 % 57,00 €\nBrutto 357,00 €",
        ("Mustermann AG", "2026-0815", 357.0, "EUR", "PO-2026-00013"),
    ),
    (
        "Tax invoice\nNorthwind Traders LLC\nInvoice Number INV/2026/003\n"
        "Your PO: PO-2026-00015\nTOTAL DUE (USD) 1,050.00",
        ("Northwind Traders LLC", "INV/2026/003", 1050.0, "USD", "PO-2026-00015"),
    ),
    (
        "Rechnung Nr. 4711 vom 01.03.2026\nKunde: Mailroom GmbH\nLieferant: Papier Schmidt e.K.\n"
        "Bestellung PO-2026-00016\nSumme netto 100,00 EUR\nMwSt 19,00 EUR\nGesamt 119,00 EUR",
        ("Papier Schmidt e.K", "4711", 119.0, "EUR", "PO-2026-00016"),
    ),
]


@pytest.mark.parametrize(("text", "expected"), LAYOUTS)
async def test_letterheads_tables_and_net_gross_lines_are_read(
    text: str, expected: tuple[str, str, float, str, str]
) -> None:
    invoice = await read(text)
    read_back = (invoice.supplier, invoice.invoice_number, invoice.amount, invoice.currency)
    assert (*read_back, invoice.po_reference) == expected
    assert invoice.doubts == []


async def test_a_short_mail_naming_the_company_after_its_greeting_is_read() -> None:
    text = (
        "Hello,\nattached is invoice 2026-77 for order PO-2026-00014.\n"
        "Amount: GBP 480.00\nThanks, Wilson & Sons Ltd"
    )
    invoice = await read(text)
    assert (invoice.supplier, invoice.invoice_number) == ("Wilson & Sons Ltd", "2026-77")
    assert (invoice.amount, invoice.currency) == (480.0, "GBP")
    assert invoice.doubts == ["the invoice number was read without a label"]


async def test_the_issue_date_is_read_in_iso_and_day_first_style() -> None:
    assert (await read(fixture_text("acme_en.pdf"))).issue_date == date(2026, 3, 2)
    assert (await read(fixture_text("schreiner_de.txt"))).issue_date == date(2026, 3, 6)
    assert (await read(LAYOUTS[3][0])).issue_date == date(2026, 3, 1)  # "Rechnung … vom"


LABELLED = "Supplier: ACME Ltd\nInvoice no: A-1\nPO-2026-00001\n"


@pytest.mark.parametrize(
    ("total_line", "amount", "currency"),
    [
        ("Total: 1,234.50 EUR", 1234.5, "EUR"),  # English style
        ("Gesamtbetrag: 1.234,50 €", 1234.5, "EUR"),  # German style
        ("Montant total : 1 234,50 €", 1234.5, "EUR"),  # French style, space grouping
        ("Amount due: £1 234,50", 1234.5, "GBP"),
        ("Total due $ 12,000.00", 12000.0, "USD"),
        ("Zu zahlen: CHF 980.00", 980.0, "CHF"),
        ("Grand total\nUSD 2,500.00", 2500.0, "USD"),  # a table's cell on the next line
        ("Total incl. VAT 19%: 1.190,00 EUR (payable within 30 days)", 1190.0, "EUR"),
    ],
)
async def test_the_amount_due_is_read_in_every_number_style_and_currency(
    total_line: str, amount: float, currency: str
) -> None:
    invoice = await read(f"{LABELLED}Subtotal: 1.000,00 EUR\nVAT: 190,00 EUR\n{total_line}\n")
    assert (invoice.amount, invoice.currency, invoice.doubts) == (amount, currency, [])


async def test_amount_due_wins_over_a_grand_total_on_the_same_invoice() -> None:
    invoice = await read(f"{LABELLED}Grand total: EUR 1,500.00\nAmount due: EUR 500.00\n")
    assert invoice.amount == 500.0  # the rest was paid in advance


async def test_a_missing_po_reference_is_a_doubt() -> None:
    invoice = await read("Supplier: ACME Ltd\nInvoice no: A-1\nTotal: EUR 100.00\n")
    assert invoice.po_reference is None
    assert invoice.confidence < 1 and invoice.doubts == ["no purchase-order reference was found"]


async def test_a_po_reference_written_loosely_is_read_as_the_ledger_numbers_it() -> None:
    invoice = await read("Supplier: ACME Ltd\nInvoice no: A-1\nRef PO 2026/7\nTotal EUR 10.00")
    assert invoice.po_reference == "PO-2026-00007"


async def test_an_amount_without_a_currency_is_taken_as_euro_with_a_doubt() -> None:
    invoice = await read(f"{LABELLED}Total: 99.90\n")
    assert (invoice.amount, invoice.currency) == (99.9, "EUR")
    assert invoice.doubts == ["no currency was named; EUR was assumed"]


async def test_a_missing_invoice_number_and_amount_are_doubts_not_guesses() -> None:
    invoice = await read("Supplier: ACME Ltd\nPO-2026-00001\nThank you for your order.")
    assert invoice.invoice_number is None and invoice.amount is None
    assert invoice.missing == ["the invoice number", "the amount"]
    assert invoice.confidence < 1


async def test_an_unlabelled_total_takes_the_largest_amount_with_a_doubt() -> None:
    invoice = await read(f"{LABELLED}Chairs EUR 300.00\nDesks EUR 1,200.00\n")
    assert invoice.amount == 1200.0
    assert invoice.doubts == ["no total was labelled as due; the largest amount was taken"]


async def test_a_number_in_the_subject_alone_is_read_with_a_doubt() -> None:
    invoice = await read("Supplier: ACME Ltd\nPO-2026-00001\nTotal EUR 5.00", "Invoice INV-4711")
    assert invoice.invoice_number == "INV-4711"
    assert invoice.doubts == ["the invoice number was read without a label"]


async def test_without_a_named_supplier_the_senders_domain_is_taken_with_a_doubt() -> None:
    invoice = await read("Invoice no: 9\nPO-2026-00001\nTotal EUR 5.00")
    assert invoice.supplier == "acme supplies"
    assert "sender's address" in invoice.doubts[0]


async def test_the_buyer_named_on_the_invoice_is_not_taken_for_the_supplier() -> None:
    text = "Bill to: Mailroom GmbH\nInvoice no: 9\nPO-2026-00001\nTotal EUR 5.00\nACME Ltd"
    assert (await read(text)).supplier == "ACME Ltd"


def test_a_pdf_without_a_text_layer_or_no_pdf_at_all_has_no_text() -> None:
    assert pdf_text(text_pdf([])).strip() == ""
    assert pdf_text(b"%PDF-1.4 this is not really a PDF") == ""
    assert pdf_text(b"") == ""


def test_the_committed_pdfs_are_what_their_script_writes() -> None:
    for source in FIXTURES.glob("*.pdf.txt"):
        lines = source.read_text(encoding="utf-8").splitlines()
        assert source.with_suffix("").read_bytes() == text_pdf(lines), source.name


async def test_a_forwarded_invoice_takes_neither_the_forwarder_nor_the_due_date() -> None:
    text = (
        "---------- Forwarded message ---------\nFrom: Jane Roe <jane@mailroom.example>\n\n"
        "Globex Corporation Inc.\nInvoice no: G-1\nDue date: 2026-04-30\n"
        "Invoice date: 2026-03-31\nPO-2026-00003\nTotal due: USD 10.00\n"
    )
    invoice = await read(text)
    assert (invoice.supplier, invoice.issue_date) == ("Globex Corporation Inc", date(2026, 3, 31))


ACME_PDF = (FIXTURES / "acme_en.pdf").read_bytes()


@settings(max_examples=60, deadline=None)
@given(st.integers(0, len(ACME_PDF) - 1), st.binary(min_size=1, max_size=40))
def test_a_damaged_pdf_never_raises(at: int, garbage: bytes) -> None:
    assert isinstance(pdf_text(ACME_PDF[:at] + garbage + ACME_PDF[at + len(garbage) :]), str)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=400), st.text(max_size=60))
def test_any_text_is_read_without_raising(text: str, subject: str) -> None:
    invoice = extract_invoice(InvoiceDocument(sender="a@b.example", subject=subject, text=text))
    assert invoice.confidence == 1.0 or invoice.doubts
