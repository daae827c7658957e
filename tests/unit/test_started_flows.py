"""A flow started by command: its input is checked field by field, and the thread's first
message is the same for the same command, safe to show and routed to the flow's mailbox."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from orchestrator.cli_output import UNSAFE
from orchestrator.flows import flow_named
from use_cases.flows import LineItem
from use_cases.purchase_input import PurchaseInput
from use_cases.started_flows import (
    InputRefused,
    flow_mailbox,
    input_text,
    started_thread,
    validated_input,
)
from use_cases.support_input import SupportInput
from use_cases.threading import workflow_id_for

NOW = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
PURCHASE = {"requester": "bob@Example.COM", "items": "2 x laptop stand", "budget": "300"}


def purchase(**changes: object) -> PurchaseInput:
    model = validated_input("procurement", PurchaseInput, {**PURCHASE, **changes})
    assert isinstance(model, PurchaseInput)
    return model


def refusal(model: type, values: dict[str, object]) -> str:
    with pytest.raises(InputRefused) as refused:
        validated_input("procurement", model, values)
    return str(refused.value)


def test_a_purchase_is_read_from_typed_fields() -> None:
    given = purchase(items=["2 x laptop stand", "1x desk lamp"], currency="usd")
    assert given.requester == "bob@example.com"
    assert given.items == [
        LineItem(quantity=2, description="laptop stand"),
        LineItem(quantity=1, description="desk lamp"),
    ]
    assert given.budget == 300 and given.currency == "USD"


def test_a_missing_required_field_is_named() -> None:
    assert refusal(PurchaseInput, {"items": "1 x chair"}) == (
        "procurement: the field 'requester' is required"
    )


def test_an_unknown_field_is_named_with_the_fields_there_are() -> None:
    message = refusal(PurchaseInput, {**PURCHASE, "colour": "red"})
    assert message.startswith("procurement: there is no field 'colour' (fields: requester, items")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("budget", "-5"),
        ("budget", "lots"),
        ("items", "a laptop stand"),
        ("requester", "Bob <bob@example.com>"),
        ("currency", "euros"),
        ("supplier", "ACME\r\nBcc: everyone@example.com"),
        ("supplier", "ACME\u202eevil"),
    ],
)
def test_a_bad_field_is_refused_naming_it(field: str, value: str) -> None:
    message = refusal(PurchaseInput, {**PURCHASE, field: value})
    assert message.startswith(f"procurement: field '{field}") and "\n" not in message


@pytest.mark.parametrize(
    "item",
    [
        {"quantity": 1, "description": "stand\u202egpj.exe"},
        {"quantity": 1, "description": "stand", "unit": "\x1b[31m\r\nBcc: x@y"},
    ],
)
def test_an_item_given_as_an_object_obeys_the_same_rule_as_text(item: dict[str, object]) -> None:
    message = refusal(PurchaseInput, {**PURCHASE, "items": [item]})
    assert message.startswith("procurement: field 'items") and "\n" not in message


def test_support_needs_a_requester_a_subject_and_a_question() -> None:
    message = refusal(SupportInput, {"requester": "a@example.com", "subject": "Printer"})
    assert message.endswith("the field 'text' is required")


def test_the_same_command_twice_gives_the_same_thread_and_message() -> None:
    first = started_thread(
        "procurement",
        purchase(),
        requester="bob@example.com",
        operator="alice",
        mailbox="purchasing@mailroom.local",
        now=NOW,
    )
    again = started_thread(
        "procurement",
        purchase(),
        requester="bob@example.com",
        operator="alice",
        mailbox="purchasing@mailroom.local",
        now=datetime(2026, 12, 6, tzinfo=UTC),
    )
    other = started_thread(
        "procurement",
        purchase(budget="301"),
        requester="bob@example.com",
        operator="alice",
        mailbox="purchasing@mailroom.local",
        now=NOW,
    )
    assert first[0] == again[0] and first[1].message_id == again[1].message_id
    assert first[1].message_id.startswith("<start-") and first[1].message_id.endswith("@mailroom>")
    assert other[0].workflow_id != first[0].workflow_id
    key, message = first
    assert key.workflow_id == workflow_id_for("purchasing@mailroom.local", message.message_id)


def test_the_first_message_names_the_flow_and_carries_its_input() -> None:
    key, message = started_thread(
        "procurement",
        purchase(text="For the new office.\nThanks"),
        requester="bob@example.com",
        operator="alice",
        mailbox="purchasing@mailroom.local",
        now=NOW,
    )
    assert message.flow == "procurement" and message.from_addr == "bob@example.com"
    assert message.flow_input is not None and message.flow_input["budget"] == 300
    assert message.subject == "Purchase request from bob@example.com"
    assert "- 2 x laptop stand" in message.text and "Budget: 300\n" in message.text
    assert message.text.endswith("For the new office.\nThanks")
    assert message.mailbox == key.mailbox == "purchasing@mailroom.local"


def test_no_control_character_from_a_field_reaches_the_subject_or_the_text() -> None:
    given = purchase(supplier="ACME GmbH", text="Two lines\n\tindented")
    _, message = started_thread(
        "procurement",
        given,
        requester="bob@example.com",
        operator="alice",
        mailbox="purchasing@mailroom.local",
        now=NOW,
    )
    assert not UNSAFE.search(message.subject)
    assert not UNSAFE.search(message.text.replace("\n", "").replace("\t", ""))
    with pytest.raises(InputRefused):
        purchase(text="line\x1b[2Jcleared")


def test_a_flow_without_its_own_subject_is_named_with_the_operator() -> None:
    _, message = started_thread(
        "digest",
        SupportInput(requester="a@example.com", subject="x", text="y"),
        requester="a@example.com",
        operator="alice",
        mailbox="m@example.com",
        now=NOW,
    )
    assert message.subject == "x"
    assert input_text(SupportInput(requester="a@example.com", subject="s", text="q")) == (
        "Requester: a@example.com\nSubject: s\n\nq"
    )


def test_the_mailbox_is_the_first_configured_one_the_flow_takes_mail_from() -> None:
    keywords = flow_named("procurement").mailboxes  # type: ignore[union-attr]
    configured = ["help@acme.example", "buying@acme.example", "purchasing@acme.example"]
    assert flow_mailbox("procurement", keywords, configured, ["acme.example"]) == (
        "buying@acme.example"
    )
    assert flow_mailbox("procurement", keywords, ["help@acme.example"], ["acme.example"]) == (
        "procurement@acme.example"
    )
    assert flow_mailbox("procurement", keywords, [], ["acme.example", "b.example"]) == (
        "procurement@acme.example"
    )
