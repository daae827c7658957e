"""Supplier invoices: read → match the purchase-order ledger → book, or an approver decides
(issue 17). A flow of its own files and one registry line; a child workflow by default."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.invoices import InvoiceActivities
    from use_cases.flows import AWAITING_APPROVAL, FlowProgress, FlowStart, fresh_text
    from use_cases.invoice_mails import (
        already_booked_answer,
        approval_request,
        booked_confirmation,
        invoice_rejection,
        sent_to_approver_answer,
        stopped_answer,
        unreadable_answer,
    )
    from use_cases.invoices import BookInvoice, Invoice, InvoiceMatch, MatchOutcome
    from use_cases.models import NewMessage

from workflows.approvals import ApprovalDecisions
from workflows.flow_workflow import FlowWorkflow

# Reading runs the agent over the mail and its PDFs (seconds for an LLM); matching and
# booking are ledger reads and writes. Retried with backoff until the ledger is back.
INVOICE_TIMEOUT = timedelta(minutes=2)
INVOICE_HEARTBEAT_TIMEOUT = timedelta(seconds=30)
INVOICE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    non_retryable_error_types=["UnbookableInvoice"],
)

Request = TypeVar("Request")
Answer = TypeVar("Answer")


class InvoiceFlow(ApprovalDecisions):
    name = "invoices"

    async def run(self) -> FlowProgress:
        await self.stage("reading")
        invoice = await self._call(InvoiceActivities.read_invoice, self._document())
        await self.stage("matching", facts=invoice_facts(invoice))
        match = await self._call(InvoiceActivities.match_invoice, invoice)
        if match.outcome is MatchOutcome.UNREADABLE and self.start.reopened:
            # "Thank you!" to our confirmation: no invoice in it, nothing to answer
            return await self.finish("noted", "a later message without an invoice")
        if match.outcome is MatchOutcome.UNREADABLE:
            await self.mail("unreadable", unreadable_answer(invoice))
            return await self.finish("unreadable", "; ".join(match.reasons))
        if match.outcome is MatchOutcome.DUPLICATE:
            await self.mail("duplicate", already_booked_answer(invoice, match.booked))
            return await self.finish("duplicate", "booked before: not booked again")
        if match.outcome is MatchOutcome.MATCHED:
            return await self._book(invoice, match, approved_by=None)
        return await self._ask_approver(invoice, match)

    async def _ask_approver(self, invoice: Invoice, match: InvoiceMatch) -> FlowProgress:
        reasons = "; ".join(match.reasons)
        await self.stage(AWAITING_APPROVAL, reasons, pending_approval=True)
        await self.mail("sent-to-approver", sent_to_approver_answer(invoice))
        subject = f"Invoice to decide: {self.start.first.subject}"
        await self._ask_approvers(
            "approval", approval_request(invoice, match, self.start.thread_id), subject
        )
        decision = await self._decision_within(self.config.approval_expires_after)
        decided = f"by {decision.by}" if decision else "no decision"
        why = f": {decision.reason}" if decision and decision.reason else ""
        await self.stage("decided", decided + why, pending_approval=False)
        if decision is None and self.complete_requested:
            await self.mail("stopped", stopped_answer(invoice))
            return await self.finish("closed", "stopped before a decision")
        if decision is None:
            return await self.finish("expired", "no decision")
        if not decision.approved:
            await self.mail("rejected", invoice_rejection(invoice, decision))
            return await self.finish("rejected", decision.reason)
        return await self._book(invoice, match, approved_by=decision.by)

    async def _book(
        self, invoice: Invoice, match: InvoiceMatch, approved_by: str | None
    ) -> FlowProgress:
        await self.stage("booking")
        booked = await self._call(
            InvoiceActivities.book_invoice,
            BookInvoice(invoice=invoice, po_number=match.po_number, approved_by=approved_by),
        )
        facts = {**self.progress.facts, "po_number": booked.po_number}
        facts["invoice_key"] = booked.invoice_key  # how the book knows it (`--json` only)
        self.progress = self.progress.model_copy(update={"facts": facts})
        await self.mail("booked", booked_confirmation(booked))
        return await self.finish("booked", _approved(approved_by))

    def _document(self) -> NewMessage:
        """The mail to read: a later mail in the thread (a reply to our answer) only by
        what its sender wrote in it and its attachments, never the invoice it quotes."""
        first = self.start.first
        if not self.start.reopened:
            return first
        return first.model_copy(update={"text": fresh_text(first), "text_truncated": False})

    async def _call(
        self, method: Callable[[Any, Request], Awaitable[Answer]], request: Request
    ) -> Answer:
        return await workflow.execute_activity_method(
            method,
            request,
            start_to_close_timeout=INVOICE_TIMEOUT,
            heartbeat_timeout=INVOICE_HEARTBEAT_TIMEOUT,
            retry_policy=INVOICE_RETRY,
            task_queue=self.queue,
        )


def invoice_facts(invoice: Invoice) -> dict[str, Any]:
    return {
        "supplier": invoice.supplier,
        "invoice_number": invoice.invoice_number,
        "amount": invoice.amount,
        "currency": invoice.currency,
        "po_reference": invoice.po_reference,
    }


def _approved(by: str | None) -> str:
    return f"approved by {by}" if by else "matched its order"


@workflow.defn(name="InvoiceFlow")
class InvoiceWorkflow(FlowWorkflow):
    """Supplier invoices as a child workflow on their own task queue."""

    @workflow.init
    def __init__(self, start: FlowStart) -> None:
        self.runtime = InvoiceFlow(start, self.reporter(start))

    @workflow.run
    async def run(self, start: FlowStart) -> FlowProgress:
        return await self.run_resumably(start)
