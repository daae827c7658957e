"""The invoice flow's wiring: its settings (MAILROOM_INVOICES_*), its activities over the
ports, how its facts show."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import Field

from activities.invoices import InvoiceActivities
from adapters.agents.invoice_reader import ModelInvoiceReader, RuleInvoiceReader
from adapters.agents.openai_compat import OpenAICompatibleAgent
from adapters.agents.pdf_text import pdf_text
from orchestrator.flow_spec import FlowWorkerSettings, env_prefix
from use_cases.invoices import InvoiceSettings
from use_cases.money import format_money

if TYPE_CHECKING:
    from temporalio.client import Client

    from orchestrator.bootstrap import Wiring


class InvoiceFlowSettings(FlowWorkerSettings):
    """MAILROOM_INVOICES_*: how far an invoice may be from its order's total and still be
    booked without a person (a fraction of the total, never less than the minimum)."""

    tolerance: float = Field(default=0.02, ge=0, le=1)
    minimum_tolerance: float = Field(default=1.00, ge=0)


def invoice_activities(wiring: Wiring, client: Client) -> Sequence[Callable[..., Any]]:
    own = InvoiceFlowSettings(_env_prefix=env_prefix("invoices"))
    settings = InvoiceSettings(tolerance=own.tolerance, minimum_tolerance=own.minimum_tolerance)
    agent = wiring.agent
    reader = ModelInvoiceReader(agent) if isinstance(agent, OpenAICompatibleAgent) else None
    invoices = InvoiceActivities(
        reader or RuleInvoiceReader(),
        wiring.ledger,
        wiring.invoice_book,
        wiring.blobs,
        pdf_text,
        settings,
    )
    return [invoices.read_invoice, invoices.match_invoice, invoices.book_invoice]


def invoice_facts(facts: Mapping[str, Any]) -> list[tuple[str, str]]:
    """`invoice INV-42 from ACME Ltd  EUR 1,190.00  PO PO-2026-00001` in `mailroom thread`."""
    amount = facts.get("amount")
    shown = [
        ("invoice", facts.get("invoice_number")),
        ("from", facts.get("supplier")),
        ("", format_money(amount, facts.get("currency") or "EUR") if amount is not None else None),
        ("PO", facts.get("po_number") or facts.get("po_reference")),
    ]
    return [(name, str(value)) for name, value in shown if value]
