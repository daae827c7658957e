"""Procurement extraction by rules: a purchase request's items, budget, deadline, supplier
and cost centre from the text of a mail, with how sure the reading is.

The body is read, not the subject: the subject's items are taken only when the body names
none. Quoted text ("> …", "On … wrote:", "-----Original Message-----"), greetings and
everything from the closing ("Best regards", "Mit freundlichen Grüßen", "-- ") on are
ignored. `PurchaseRequest.text` is that fresh text, so a follow-up answer appended to it is
read the same way.

Contract with the procurement flow: `confidence` (0..1) falls by 0.2 for each doubt and is at
most 0.5 when no item was found; `doubts` says, in short sentences a requester can read, what
was unsure ("two different budgets (EUR 3,000.00 and EUR 5,000.00)", "item 'chairs' has no
quantity", "items came only from the subject", "a line looked like an item but could not be
read: '…'"). The flow asks the requester to confirm the parsed order before ordering when
`confidence` < 0.8 or `doubts` is not empty (`needs_confirmation`). Missing items or budget
are not doubts: `PurchaseRequest.missing` asks for those.
"""

from __future__ import annotations

import re

from adapters.agents.extraction_fields import read_fields
from adapters.agents.extraction_items import read_items
from adapters.agents.extraction_tables import Items
from use_cases.flows import ExtractRequest, LineItem, PurchaseRequest

CONFIRM_BELOW = 0.8
# More than this many of one thing is more often a postcode or a part number than an order.
LARGEST_USUAL_QUANTITY = 10_000
READ_AT_MOST = 20_000  # characters of fresh text: no purchase request is longer
# characters of the body looked at to find them: quoted text and blank lines may come first
READ_RAW_AT_MOST = 5 * READ_AT_MOST
QUOTE_HEADER = re.compile(
    r"^\s*(?:on .{4,120} wrote:|am .{4,120} schrieb .{1,80}:|-{2,}\s*(?:original message|"
    r"ursprüngliche nachricht|forwarded message|weitergeleitete nachricht)\s*-{2,}|"
    r"(?:from|von|sent|gesendet):\s.+@.+|sent from my .+|von meinem .+ gesendet)\s*$",
    re.IGNORECASE,
)
SIGNATURE = re.compile(r"^(?:--\s?|_{3,}|-{3,})$")
CLOSING = re.compile(
    r"^(?:(?:best|kind|warm|many)\s+(?:regards|wishes|thanks)|regards|best|cheers|thanks|"
    r"thank you|thx|ty|sincerely|yours|br|mfg|lg|vg|danke|vielen dank|"
    r"mit freundlichen grüßen|(?:viele|beste|liebe|freundliche|schöne) grüße|gruß|grüße)\b",
    re.IGNORECASE,
)
GREETING = re.compile(
    r"^\s*(?:hi|hello|hey|dear|hallo|liebe[rs]?|sehr geehrte[rs]?|guten (?:morgen|tag|abend)|"
    r"good (?:morning|afternoon)|moin|servus|grüß gott|greetings)\b[^,!:\n]{0,40}[,!:]\s*",
    re.IGNORECASE,
)
# A correction often opens with the answer word ("No: 5 monitors"): "No:" there is no
# order number ("No. 5" keeps its meaning: the stop is not taken).
ANSWER_WORD = re.compile(r"^\s*(?:no|nope|nein|non|yes|ja|oui|ok|okay)\s*[:,!\-\u2013]\s*", re.I)
SUBJECT_PREFIX = re.compile(r"^\s*(?:(?:re|aw|fwd?|wg|rfq|sv|antw)\s?:\s*)+", re.IGNORECASE)


def extract_purchase_request(request: ExtractRequest) -> PurchaseRequest:
    text = fresh_text(request.text)[:READ_AT_MOST]
    fields = read_fields(text)
    items = read_items(text)
    doubts = [*items.doubts, *fields.doubts]
    found = _items_or_fallbacks(items, request.subject, doubts)
    doubts.extend(
        f"the quantity of '{item.description}' is very large ({item.quantity:,})"
        for item in found
        if item.quantity > LARGEST_USUAL_QUANTITY
    )
    return PurchaseRequest(
        requester=request.requester,
        items=found,
        budget=fields.budget,
        currency=fields.currency,
        deadline=fields.deadline,
        supplier=fields.supplier,
        cost_centre=fields.cost_centre,
        text=text[:4000],
        confidence=_confidence(found, doubts),
        doubts=list(dict.fromkeys(doubts)),
    )


def needs_confirmation(request: PurchaseRequest) -> bool:
    """Whether the requester should confirm the parsed order before it is placed."""
    return request.confidence < CONFIRM_BELOW or bool(request.doubts)


def _items_or_fallbacks(items: Items, subject: str, doubts: list[str]) -> list[LineItem]:
    named = {item.description.split()[-1] for item in items.found}
    unresolved = [name for name in items.unquantified if name.split()[-1] not in named]
    doubts.extend(f"item '{name}' has no quantity" for name in unresolved)
    if items.found:
        return items.found
    from_subject = read_items(SUBJECT_PREFIX.sub("", subject[:500])).found
    if from_subject:
        doubts.append("items came only from the subject")
        return from_subject
    doubts.extend(f"item '{name}' has no quantity" for name in items.without_quantity)
    return []


def _confidence(items: list[LineItem], doubts: list[str]) -> float:
    confidence = max(0.0, 1.0 - 0.2 * len(set(doubts)))
    if not items:
        confidence = min(confidence, 0.5)
    return round(confidence, 2)


def fresh_text(body: str) -> str:
    """The lines the sender wrote now: no quoted reply, greeting, closing or signature."""
    lines: list[str] = []
    started = False  # a flag, not a rescan of `lines`: 200 KB of blank lines took minutes
    for line in body[:READ_RAW_AT_MOST].replace("\r\n", "\n").splitlines():
        stripped = line.strip()
        if stripped.startswith(">"):
            continue
        if QUOTE_HEADER.match(stripped) or SIGNATURE.match(stripped) or _closing(stripped):
            break
        if not started:
            line = ANSWER_WORD.sub("", GREETING.sub("", line, count=1), count=1)
            # "Lieber Bob" alone is a greeting; "lieber 6" (rather 6) is an answer
            short = len(stripped.split()) <= 3 and not re.search(r"\d", stripped)
            if short and GREETING.fullmatch(stripped + ","):
                continue
            started = bool(line.strip())
        lines.append(line)
    return "\n".join(lines).strip()


def _closing(line: str) -> bool:
    short = len(line.split()) <= 5 and not re.search(r"\d", line)
    return short and bool(CLOSING.match(line))
