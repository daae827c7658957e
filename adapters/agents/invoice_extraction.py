"""Reads a supplier invoice out of text (the mail's and its PDF's text layer), English,
German or French: supplier, invoice number, amount due, currency, purchase-order
reference, date. What is guessed or missing lowers the confidence and is named in
`doubts`; nothing is invented."""

from __future__ import annotations

import re
from datetime import date

from adapters.agents.invoice_amounts import document_currency, invoice_amount
from use_cases.invoices import Invoice, InvoiceDocument

# As the ledger numbers orders ("PO-2026-00001"); also "PO 2026/1", "po-2026-0001".
PO_REFERENCE = re.compile(
    r"(?<![\w-])PO[\s_#:.-]*(?P<year>20\d{2})[\s/-]*(?P<seq>\d{1,9})(?!\d)", re.IGNORECASE
)
NUMBER_VALUE = r"(?P<number>[A-Z0-9][\w/.-]*\d[\w/-]*|\d[\w/-]*)"
INVOICE_NUMBER = re.compile(
    r"(?:invoice\s*(?:no\b\.?|number|nr\b\.?|num\b\.?|id\b|#)|inv\b\.?\s*(?:no\b\.?|#)"
    r"|rechnungs?[\s-]?(?:nummer|nr\b\.?|no\b\.?)|rechnung\s*(?:nr\b\.?|no\b\.?|#)"
    r"|facture\s*(?:n[°o]\.?|num[ée]ro)|num[ée]ro\s+de\s+facture|n[°o]\s*de\s*facture)"
    rf"\s*[:#.]?\s*{NUMBER_VALUE}",
    re.IGNORECASE,
)
UNLABELLED_NUMBER = re.compile(rf"\b(?:invoice|rechnung|facture)\s+{NUMBER_VALUE}", re.IGNORECASE)
SUPPLIER_LABEL = re.compile(
    r"^\W*(?:supplier|vendor|seller|issued\s+by|lieferant|rechnungssteller|verk(ä|ae)ufer"
    r"|absender|fournisseur|(é|e)metteur)\s*[:-]\s*(?P<name>.+)$",
    re.IGNORECASE | re.MULTILINE,
)
LEGAL_FORM = re.compile(
    r"(?<!\w)(gmbh|ag|kg|ltd|limited|inc|llc|plc|s\.?a\.?|sarl|s\.?a\.?s\.?|b\.?v\.?|n\.?v\.?"
    r"|corp|s\.?r\.?l\.?|s\.?p\.?a\.?|oy|ab)(?!\w)",
    re.IGNORECASE,
)
# Lines that name the buyer, not the supplier ("Bill to: Mailroom GmbH").
RECIPIENT = re.compile(
    r"bill(ed)?\s+to|invoice\s+to|ship\s+to|deliver\w*\s+to|customer|client|kunde"
    r"|rechnungsempf|lieferanschrift|empf(ä|ae)nger|destinataire|^\W*(an|to|attn)\b",
    re.IGNORECASE,
)
ISSUE_DATE = re.compile(
    r"(?<!\w)(?<!due )(?<!delivery )"
    r"(?:invoice\s+date|date\s+of\s+issue|issue\s+date|rechnungsdatum|datum|date|dated|vom)"
    r"\s*[:.]?\s*"
    r"(?P<date>\d{4}-\d{2}-\d{2}|\d{1,2}[./]\d{1,2}[./]\d{4})",
    re.IGNORECASE,
)
# What separates a letterhead's name from its address on one line.
SEPARATORS = re.compile(r",|<|\s{2,}|\t|\s[|·•]\s|\s[-\u2013]\s")
DOUBT_COST = 0.2
LOWEST_CONFIDENCE = 0.2


def extract_invoice(document: InvoiceDocument) -> Invoice:
    text = f"{document.subject}\n{document.text}"
    doubts: list[str] = []
    supplier = _supplier(document.text, document.sender, doubts)
    number = _invoice_number(document.subject, document.text, doubts)
    reference = _po_reference(text, doubts)
    amount = invoice_amount(document.text)
    currency = amount.currency if amount and amount.currency else document_currency(text)
    if amount is None:
        doubts.append("no amount was found")
    else:
        doubts.extend(amount.doubts)
        if currency is None:
            doubts.append("no currency was named; EUR was assumed")
    return Invoice(
        sender=document.sender,
        supplier=supplier,
        invoice_number=number,
        amount=amount.value if amount else None,
        currency=currency or "EUR",
        po_reference=reference,
        issue_date=_issue_date(text),
        confidence=max(LOWEST_CONFIDENCE, 1 - DOUBT_COST * len(doubts)),
        doubts=doubts,
    )


def _supplier(text: str, sender: str, doubts: list[str]) -> str | None:
    labelled = SUPPLIER_LABEL.search(text)
    if labelled:
        return _name(labelled["name"])
    lines = text.splitlines()
    companies = list(dict.fromkeys(_company_name(line) for line in lines if _company(line)))
    if companies:
        if len(companies) > 1:
            doubts.append(f"several companies are named; {companies[0]} was taken")
        return companies[0]
    domain = sender.rpartition("@")[2].lower()
    if not domain:
        doubts.append("no supplier was found")
        return None
    doubts.append(f"no supplier was named; it was taken from the sender's address ({domain})")
    return domain.rsplit(".", 1)[0].replace("-", " ").replace(".", " ")


def _company(line: str) -> bool:
    return LEGAL_FORM.search(line) is not None and RECIPIENT.search(line) is None


def _name(value: str) -> str:
    """The name alone: not the address after it ("ACME Ltd, 12 Mill Road", "ACME Ltd
    <billing@acme.example>", "ACME AG · Hauptstr. 1")."""
    return _segments(value)[0]


def _company_name(line: str) -> str:
    """The part of the line with the company form: "Thanks, Wilson & Sons Ltd"."""
    named = [part for part in _segments(line) if LEGAL_FORM.search(part)]
    return named[0] if named else _name(line)


def _segments(value: str) -> list[str]:
    parts = [p.strip(" .:;-") for p in SEPARATORS.split(value.strip())]
    return [p[:200] for p in parts if p] or [""]


def _invoice_number(subject: str, text: str, doubts: list[str]) -> str | None:
    for source in (text, subject):
        found = [m["number"] for m in INVOICE_NUMBER.finditer(source)]
        found = [n.rstrip(".") for n in found if not PO_REFERENCE.fullmatch(n)]
        if found:
            return found[0]
    for source in (subject, text):
        unlabelled = UNLABELLED_NUMBER.search(source)
        if unlabelled and not PO_REFERENCE.fullmatch(unlabelled["number"]):
            doubts.append("the invoice number was read without a label")
            return unlabelled["number"].rstrip(".")
    doubts.append("no invoice number was found")
    return None


def _po_reference(text: str, doubts: list[str]) -> str | None:
    named = list(
        dict.fromkeys(f"PO-{m['year']}-{int(m['seq']):05d}" for m in PO_REFERENCE.finditer(text))
    )
    if not named:
        doubts.append("no purchase-order reference was found")
        return None
    if len(named) > 1:
        doubts.append(f"several purchase orders are named ({', '.join(named)})")
    return named[0]


def _issue_date(text: str) -> date | None:
    found = ISSUE_DATE.search(text)
    if found is None:
        return None
    written = found["date"]
    try:
        if "-" in written:
            return date.fromisoformat(written)
        day, month, year = (int(part) for part in re.split(r"[./]", written))
        return date(year, month, day)
    except ValueError:  # "31.02.2026": no such day
        return None
