"""The invoice flow's InvoiceReader port, two ways: the offline rules
(`invoice_extraction.py`) or any OpenAI-compatible model (asked through the agent's
generic `ask`). The flow's own adapter: no other agent code knows invoices."""

from __future__ import annotations

from adapters.agents.invoice_extraction import extract_invoice
from adapters.agents.openai_compat import OpenAICompatibleAgent
from use_cases.invoices import Invoice, InvoiceDocument

INSTRUCTIONS = (
    "Extract the supplier invoice: supplier, invoice_number, amount (the total due, a "
    "number), currency (ISO code; EUR when none is named, with a doubt), po_reference (like "
    "PO-2026-00001), issue_date; null for what the text does not say, and name each guess "
    "in `doubts`."
)


class RuleInvoiceReader:
    async def extract_invoice(self, document: InvoiceDocument) -> Invoice:
        return extract_invoice(document)


class ModelInvoiceReader:
    def __init__(self, agent: OpenAICompatibleAgent) -> None:
        self.agent = agent

    async def extract_invoice(self, document: InvoiceDocument) -> Invoice:
        answer = await self.agent.ask(INSTRUCTIONS, document, Invoice)
        # who sent it is what the mail says, never what the model claims
        return answer.model_copy(update={"sender": document.sender})
