"""The flow registry: one FlowSpec line per flow. Adding a flow = its own files + one line."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from activities.agents import AgentActivities
from activities.procurement import ProcurementActivities
from orchestrator.digest import DigestSettings, digest_activities, digest_schedule
from orchestrator.flow_settings import policy_rules
from orchestrator.flow_spec import FlowSpec
from orchestrator.invoices import InvoiceFlowSettings, invoice_activities, invoice_facts
from orchestrator.purge import PurgeSettings, purge_activities, purge_schedule
from use_cases.digest import DigestInput
from use_cases.models import FlowMode
from use_cases.purchase_input import PurchaseInput
from use_cases.retention import PurgeInput
from use_cases.support_input import SupportInput
from workflows.digest import DigestWorkflow
from workflows.invoices import InvoiceFlow, InvoiceWorkflow
from workflows.procurement import ProcurementFlow, ProcurementWorkflow
from workflows.purge import PurgeWorkflow
from workflows.support import SupportFlow, SupportWorkflow

if TYPE_CHECKING:
    from temporalio.client import Client

    from orchestrator.bootstrap import Wiring


def purchase_order_facts(facts: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [("PO", str(facts["po_number"]))] if facts.get("po_number") else []


def procurement_activities(wiring: Wiring, client: Client) -> Sequence[Callable[..., Any]]:
    agents = AgentActivities(wiring.agent)
    ledger = ProcurementActivities(wiring.ledger, policy_rules(wiring.settings))
    return [
        agents.extract_request,
        ledger.check_policy,
        ledger.check_budget,
        ledger.create_purchase_order,
    ]


def support_activities(wiring: Wiring, client: Client) -> Sequence[Callable[..., Any]]:
    agents = AgentActivities(wiring.agent)
    return [agents.triage, agents.answer_from_kb]


FLOWS: tuple[FlowSpec, ...] = (
    FlowSpec(
        name="procurement",
        workflow=ProcurementWorkflow,
        runtime=ProcurementFlow,
        activities=procurement_activities,
        input=PurchaseInput,
        mailboxes=("procure", "purchas", "buy", "order"),
        mode=FlowMode.CHILD,
        facts=purchase_order_facts,
        description="purchase requests: policy, approval, purchase order",
    ),
    FlowSpec(
        name="support",
        workflow=SupportWorkflow,
        runtime=SupportFlow,
        activities=support_activities,
        input=SupportInput,
        mailboxes=("support", "help", "service"),
        mode=FlowMode.INLINE,
        description="customer questions: answer from the knowledge base or a person",
    ),
    FlowSpec(
        name="invoices",
        workflow=InvoiceWorkflow,
        runtime=InvoiceFlow,
        activities=invoice_activities,
        settings=InvoiceFlowSettings,
        mailboxes=("invoice", "billing", "payable"),
        mode=FlowMode.CHILD,
        facts=invoice_facts,
        description="supplier invoices: matched to their purchase order and booked",
    ),
    FlowSpec(
        name="digest",
        workflow=DigestWorkflow,
        activities=digest_activities,
        settings=DigestSettings,
        input=DigestInput,
        threaded=False,
        kept_schedule=digest_schedule,
        description="open and escalated threads, mailed to an operator (scheduled)",
    ),
    FlowSpec(
        name="purge",
        workflow=PurgeWorkflow,
        activities=purge_activities,
        settings=PurgeSettings,
        input=PurgeInput,
        threaded=False,
        kept_schedule=purge_schedule,
        description="retention: blobs of threads completed MAILROOM_RETENTION_DAYS ago removed",
    ),
)


def flow_named(name: str, flows: Sequence[FlowSpec] = FLOWS) -> FlowSpec | None:
    return next((f for f in flows if f.name == name), None)
