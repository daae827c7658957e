"""The OpenAI-compatible agent reads invoices into the same validated model as the rules."""

from __future__ import annotations

import pytest

from adapters.agents.invoice_reader import ModelInvoiceReader
from adapters.agents.openai_compat import MalformedAgentAnswer, OpenAICompatibleAgent
from tests.unit.test_openai_agent import ChatEndpoint, endpoint
from use_cases.invoices import InvoiceDocument

__all__ = ["endpoint"]  # the fixture, shared with the agent's other tests

DOCUMENT = InvoiceDocument(
    sender="billing@acme.example", subject="Invoice 42", text="ACME Ltd, total EUR 10"
)


async def test_the_models_invoice_is_validated_and_keeps_the_real_sender(
    endpoint: tuple[ChatEndpoint, str],
) -> None:
    state, url = endpoint
    state.answer = (
        '{"sender": "someone@else.example", "supplier": "ACME Ltd", "invoice_number": "42",'
        ' "amount": 10.0, "currency": "EUR", "po_reference": null, "confidence": 0.6,'
        ' "doubts": ["no purchase-order reference was found"]}'
    )
    invoice = await ModelInvoiceReader(OpenAICompatibleAgent(url, "m")).extract_invoice(DOCUMENT)
    assert (invoice.supplier, invoice.amount, invoice.sender) == (
        "ACME Ltd",
        10.0,
        "billing@acme.example",
    )
    assert invoice.doubts == ["no purchase-order reference was found"]


async def test_a_negative_amount_from_the_model_is_never_trusted(
    endpoint: tuple[ChatEndpoint, str],
) -> None:
    state, url = endpoint
    state.answer = '{"supplier": "ACME Ltd", "invoice_number": "42", "amount": -10}'
    with pytest.raises(MalformedAgentAnswer):
        await ModelInvoiceReader(OpenAICompatibleAgent(url, "m")).extract_invoice(DOCUMENT)
