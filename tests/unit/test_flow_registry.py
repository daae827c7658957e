"""The registry: one FlowSpec per flow, each with a queue and a workflow type of its own,
and what `mailroom thread` shows of a flow's facts."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from orchestrator.cli_errors import CliError
from orchestrator.cli_schedule import flow_input
from orchestrator.flow_workers import flows_named
from orchestrator.flows import FLOWS, flow_named
from orchestrator.invoices import invoice_facts
from orchestrator.settings import Settings, SettingsError
from use_cases.flow_catalogue import FlowCatalogue


def test_every_flow_has_its_own_name_queue_and_workflow_type() -> None:
    entries = [spec.entry() for spec in FLOWS]
    for attribute in ("name", "task_queue", "workflow_type"):
        values = [getattr(e, attribute) for e in entries]
        assert len(set(values)) == len(values), attribute
    assert all(e.task_queue == f"{e.name}-queue" for e in entries)


def test_the_prefix_goes_before_every_flows_queue() -> None:
    assert {s.queue_for("a-") for s in FLOWS} == {f"a-{s.name}-queue" for s in FLOWS}


def test_mail_to_a_flows_mailbox_routes_to_it() -> None:
    catalogue = FlowCatalogue(flows=tuple(spec.entry() for spec in FLOWS))
    boxes = ("procurement@x", "support@x", "invoices@x", "billing@x", "hello@x")
    routed = {box: getattr(catalogue.by_mailbox(box), "name", None) for box in boxes}
    assert routed == {
        "procurement@x": "procurement",
        "support@x": "support",
        "invoices@x": "invoices",
        "billing@x": "invoices",
        "hello@x": None,
    }
    assert catalogue.by_label("digest") is None, "a flow that runs alone takes no mail"


def test_an_invoices_facts_show_number_supplier_amount_and_order() -> None:
    facts = {
        "invoice_number": "INV-42",
        "supplier": "ACME Ltd",
        "amount": 1190.0,
        "currency": "EUR",
        "po_number": "PO-2026-00001",
        "invoice_key": "acme|inv-42",
    }
    assert invoice_facts(facts) == [
        ("invoice", "INV-42"),
        ("from", "ACME Ltd"),
        ("", "EUR 1,190.00"),
        ("PO", "PO-2026-00001"),
    ]
    spec = flow_named("procurement")
    assert spec is not None and spec.facts({"po_number": "PO-1"}) == [("PO", "PO-1")]


def test_a_schedules_input_comes_from_a_file_or_from_fields_never_both(tmp_path: Path) -> None:
    digest = flow_named("digest")
    assert digest is not None
    given = tmp_path / "input.json"
    given.write_text('{"to": ["ops@example.com"]}')
    with pytest.raises(CliError, match="not both"):
        flow_input(digest, ["to=x@example.com"], given)
    assert flow_input(digest, [], given) == flow_input(digest, ["to=ops@example.com"], None)


def test_an_empty_flows_list_serves_nothing_rather_than_everything() -> None:
    assert flows_named(None) == FLOWS
    with pytest.raises(SettingsError, match="name at least one flow"):
        flows_named("  ")


@pytest.mark.parametrize("prefix", ["bad prefix/", "-x", "a/b"])
def test_a_queue_prefix_is_a_plain_name(prefix: str, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="queue_prefix"):
        Settings(data_dir=tmp_path, queue_prefix=prefix)
