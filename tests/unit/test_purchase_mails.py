"""What a requester's answer to "is this your order?" means, and when we ask it."""

from __future__ import annotations

import pytest

from adapters.agents.extraction import extract_purchase_request
from use_cases.flows import ExtractRequest, LineItem, PurchaseRequest
from use_cases.purchase_mails import confirmation_request, corrected, order_doubts, says_confirmed

MONITORS = PurchaseRequest(
    requester="alice@example.com",
    items=[LineItem(description="monitors", quantity=3)],
    budget=600,
    supplier="Dell",
)


@pytest.mark.parametrize(
    "answer",
    [
        "confirm",
        "Confirmed.",
        "yes",
        "Yes, that's right",
        "OK",
        "okay!",
        "Bestätigt",
        "passt",
        "Yes, go ahead.\n\nThanks!",
        "Confirmed\n\nThanks,\nAlice Smith",
        "Passt so.\n\nDanke und viele Grüße\nAnna",
        "OK\n-- \nAlice Smith\nHead of Facilities, +49 30 1234",
        "yes\n\nSent from my iPhone",
        "Yes\n\nOn Monday, Mailroom wrote:\n> Reply 'confirm' if this is right",
    ],
)
def test_a_plain_yes_confirms(answer: str) -> None:
    assert says_confirmed(f"\n{answer}\n\n> Reply 'confirm' if this is right")


@pytest.mark.parametrize(
    "answer",
    [
        "OK, but 5 monitors",
        "ok 5 monitors then",
        "No, 4 monitors",
        "> confirm",
        "Yesterday",
        "Yes, but make them blue ones",
        "OK, except the chairs",
        "ok - change supplier to Dell",
        "Confirmed, not the chairs though",
        "Yes.\n\nBut the budget is EUR 500",
        "Yes.\n\nThe budget is EUR 500",
        "Ja, passt, aber nur 3 Monitore",
        "Bestätigt, außer den Stühlen",
        "OK, however the deadline is Friday",
        "Yes - order from HP instead",
        "Passt, statt Dell bitte HP",
        "Ja bitte ändern: HP",
        "Yes please order them all from another supplier",
        "Yes\nPlease make it HP",
    ],
)
def test_anything_else_is_a_correction(answer: str) -> None:
    assert not says_confirmed(answer)


def test_a_sure_reading_needs_no_confirmation_an_unsure_one_does() -> None:
    assert order_doubts(MONITORS, 0.8) == []
    unsure = MONITORS.model_copy(update={"confidence": 0.5})
    assert order_doubts(unsure, 0.8) == ["parts of the request could not be read with certainty"]
    doubted = MONITORS.model_copy(update={"doubts": ["the supplier"]})
    assert order_doubts(doubted, 0.8) == ["the supplier"]
    free = MONITORS.model_copy(update={"budget": 0})
    assert order_doubts(free, 0.8) == ["a budget of EUR 0.00 for the items"]


def test_the_confirmation_mail_shows_the_parsed_order() -> None:
    text = confirmation_request(MONITORS, ["the supplier"])
    for shown in ("3 x monitors", "Budget: EUR 600.00", "Supplier: Dell", "- the supplier"):
        assert shown in text


def test_a_correction_replaces_only_what_it_names() -> None:
    answer = PurchaseRequest(requester="x", items=[LineItem(description="monitors", quantity=5)])
    fixed = corrected(MONITORS, answer)
    assert (fixed.items[0].quantity, fixed.budget, fixed.supplier, fixed.requester) == (
        5,
        600,
        "Dell",
        "alice@example.com",
    )


LAPTOP = PurchaseRequest(
    requester="bob@example.com",
    items=[LineItem(description="laptops", quantity=5)],
    budget=6000,
    text="5 laptops please",
)


def read_answer(text: str, subject: str = "Re: Need 5 laptops") -> PurchaseRequest:
    return extract_purchase_request(
        ExtractRequest(requester="bob@example.com", subject=subject, text=text)
    )


@pytest.mark.parametrize(
    "answer",
    [
        "Yes, but make it 6",
        "make it 6",
        "6 instead",
        "6 instead of 5",
        "change it to 6",
        "lieber 6",
        "6 statt 5",
        "Yes, but make it 6, budget EUR 7,200\n\nThanks,\nBob",
    ],
)
def test_a_number_alone_corrects_the_quantity_of_a_one_item_order(answer: str) -> None:
    fixed = corrected(LAPTOP, read_answer(answer))
    assert [(i.description, i.quantity) for i in fixed.items] == [("laptops", 6)]


@pytest.mark.parametrize(
    "answer",
    ["make it 6 or 7", "change it", "Yes, but the budget is EUR 7000", "make it 6 by 2026-12-24"],
)
def test_no_number_or_several_leave_the_quantity_as_it_was(answer: str) -> None:
    fixed = corrected(LAPTOP, read_answer(answer))
    assert [(i.description, i.quantity) for i in fixed.items] == [("laptops", 5)]


def test_a_number_alone_corrects_nothing_in_an_order_of_several_items() -> None:
    two = LAPTOP.model_copy(
        update={"items": [*LAPTOP.items, LineItem(description="docks", quantity=5)]}
    )
    assert corrected(two, read_answer("make it 6")).items == two.items


def test_a_correction_that_names_an_item_replaces_the_items() -> None:
    fixed = corrected(LAPTOP, read_answer("No, 6 Dell laptops and 2 docks"))
    assert [(i.description, i.quantity) for i in fixed.items] == [
        ("dell laptops", 6),
        ("docks", 2),
    ]
