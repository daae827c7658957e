"""The default agent: deterministic rules, regular expressions and a knowledge base file.

It needs no network and no model, so the whole service works offline; an LLM-backed agent
implements the same `Agent` port.
"""

from __future__ import annotations

from adapters.agents.extraction import extract_purchase_request
from adapters.agents.knowledge import Article, best_answer, load_knowledge_base, words
from use_cases.flows import (
    Classification,
    ClassifyRequest,
    ExtractRequest,
    FlowName,
    KbAnswer,
    PurchaseRequest,
    Triage,
    flow_by_mailbox,
)

PROCUREMENT_WORDS = frozenset(
    "rfq quote quotation purchase order buy procure procurement budget supplier vendor".split()
)
SUPPORT_WORDS = frozenset(
    "help problem error broken issue crash fails failed failing bug fire support password "
    "invoice refund".split()
)
URGENT_WORDS = frozenset(
    "urgent asap immediately fire outage down emergency critical dringend sofort notfall "
    "feuer brennt eilt urgence immediatement feu".split()
)
CATEGORIES = {
    "billing": frozenset(
        "invoice bill billing payment refund rechnung charge zahlung erstattung facture "
        "paiement remboursement".split()
    ),
    "account": frozenset(
        "password login account reset locked passwort konto gesperrt compte bloque".split()
    ),
    "technical": frozenset(
        "error broken crash fire printer bug fails failing fehler absturz drucker erreur "
        "plante imprimante".split()
    ),
    "delivery": frozenset(
        "delivery order parcel package tracking lieferung bestellung paket livraison "
        "commande colis".split()
    ),
}
# An article the mail matches this clearly names the category (its `category` key).
ARTICLE_CATEGORY_CONFIDENCE = 0.5


class RuleBasedAgent:
    def __init__(self, articles: list[Article] | None = None) -> None:
        self.articles = load_knowledge_base() if articles is None else articles

    async def classify(self, request: ClassifyRequest) -> Classification:
        by_mailbox = flow_by_mailbox(request.mailbox)
        if by_mailbox is not None:
            return Classification(flow=by_mailbox, confidence=0.9, reason="mailbox")
        seen = words(f"{request.subject} {request.text}")
        buying, helping = len(seen & PROCUREMENT_WORDS), len(seen & SUPPORT_WORDS)
        if buying > helping:
            return Classification(flow=FlowName.PROCUREMENT, confidence=0.6, reason="content")
        if helping > buying:
            return Classification(flow=FlowName.SUPPORT, confidence=0.6, reason="content")
        return Classification(flow=FlowName.OTHER, confidence=0.5, reason="no signal")

    async def extract_request(self, request: ExtractRequest) -> PurchaseRequest:
        return extract_purchase_request(request)

    async def triage(self, request: ClassifyRequest) -> Triage:
        seen = words(f"{request.subject} {request.text}")
        priority = "high" if seen & URGENT_WORDS else "normal"
        return Triage(category=self._category(request, seen), priority=priority)

    def _category(self, request: ClassifyRequest, seen: set[str]) -> str:
        kb = best_answer(self.articles, request)
        article = next((a for a in self.articles if a.id == kb.article), None)
        if article and article.category and kb.confidence >= ARTICLE_CATEGORY_CONFIDENCE:
            return article.category
        category = max(CATEGORIES, key=lambda c: len(seen & CATEGORIES[c]))
        return category if seen & CATEGORIES[category] else "general"

    async def answer_from_kb(self, request: ClassifyRequest) -> KbAnswer:
        return best_answer(self.articles, request)


__all__ = ["Article", "RuleBasedAgent", "load_knowledge_base"]
