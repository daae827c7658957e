"""The offline extractor reads what a purchase request asks for: items with quantity and
unit, budget, deadline, supplier, cost centre; and says when it is unsure."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from adapters.agents.extraction import extract_purchase_request, needs_confirmation
from adapters.agents.extraction_numbers import find_money, parse_number
from adapters.agents.rules import RuleBasedAgent
from bench.purchase_extraction import evaluate, expected, extracted, load_cases
from use_cases.flows import ExtractRequest, PurchaseRequest


def read(body: str, subject: str = "Order") -> PurchaseRequest:
    return extract_purchase_request(
        ExtractRequest(requester="r@corp.example", subject=subject, text=body)
    )


def items(body: str, subject: str = "Order") -> list[tuple[int, str, str]]:
    return [(i.quantity, i.unit, i.description) for i in read(body, subject).items]


def test_the_table_of_requests_is_read_exactly_in_at_least_95_percent_of_cases() -> None:
    evaluation = evaluate()
    report = "\n".join(evaluation.mismatches)
    print(
        f"{evaluation.exact} of {evaluation.cases} exactly right ({evaluation.rate:.1%})\n{report}"
    )
    assert evaluation.cases >= 60
    assert evaluation.rate >= 0.95, report


# The reviewer's 30 requests (tests/fixtures/purchase_requests_heldout.toml): 21 exact (70 %)
# before any tuning on them, 28 (93 %) after fixing the defects they revealed
# (docs/extraction.md): no longer held out, a regression floor.
HELDOUT = Path(__file__).parents[1] / "fixtures" / "purchase_requests_heldout.toml"
HELDOUT_FLOOR = 0.90


def test_the_reviewers_requests_are_read_exactly_in_at_least_90_percent_of_cases() -> None:
    evaluation = evaluate(HELDOUT)
    assert evaluation.cases == 30
    assert evaluation.rate >= HELDOUT_FLOOR, "\n".join(evaluation.mismatches)


def test_every_wrong_reading_of_the_reviewers_requests_asks_for_confirmation() -> None:
    """A wrong reading with no doubt would be ordered as read: the review found two."""
    silent = []
    for case in load_cases(HELDOUT):
        got, _ = extracted(case)
        want = expected(case)
        wrong = [name for name in want if name != "unsure" and got[name] != want[name]]
        if wrong and not got["unsure"]:
            silent.append((case["name"], wrong))
    assert silent == []


def test_the_subject_does_not_add_to_the_items_the_body_names() -> None:
    body = "Hello, could you please order 3 ergonomic keyboards?\n\nThanks,\nAnna"
    assert items(body, subject="Need 3 keyboards") == [(3, "", "ergonomic keyboards")]


def test_the_subject_is_read_when_the_body_names_no_items_and_that_is_a_doubt() -> None:
    request = read("Hi, see subject. Budget EUR 500.", subject="Re: Need 5 whiteboards")
    assert [(i.quantity, i.description) for i in request.items] == [(5, "whiteboards")]
    assert request.doubts == ["items came only from the subject"]
    assert needs_confirmation(request)


@pytest.mark.parametrize(
    "body",
    [
        "We need 400 laptops (14 inch, 32 GB RAM).",
        "We need 400 laptops, 14 inch, 32 GB RAM.",
        "We need 400 laptops with 2 years warranty, delivered within 3 days.",
        'We need 400 laptops, 27" screens, 16GB, 5 business days delivery.',
        "We need 400 laptops by 15.03.2026, call +49 89 1234567, order no. 4711.",
        "We need 400 laptops at EUR 1,200 each, 10% discount, for 20 people in room 4.",
        "We need 400 laptops:\n- 14 inch display\n- 512 GB SSD\n- Windows 11 Pro",
        "Wir benötigen 400 Laptops mit 3 Jahren Garantie, Lieferung in 10 Werktagen, KW 12.",
    ],
)
def test_specifications_dates_prices_and_numbers_are_not_items(body: str) -> None:
    assert [(q, d) for q, _, d in items(body)] == [(400, "laptops")]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("5 boxes of A4 paper", [(5, "box", "a4 paper")]),
        ("3 ergonomic keyboards", [(3, "", "ergonomic keyboards")]),
        ("1. 3 x monitors\n2. 2x docks", [(3, "", "monitors"), (2, "", "docks")]),
        ("Monitors x 4\nMice: 2", [(4, "", "monitors"), (2, "", "mice")]),
        ("Qty | Item\n---|---\n3 | Monitor\n2 | Dock", [(3, "", "monitor"), (2, "", "dock")]),
        ("Menge\tArtikel\n4\tBürostuhl", [(4, "", "bürostuhl")]),
        ("wir benötigen 10 Stühle und zwei Tische", [(10, "", "stühle"), (2, "", "tische")]),
        ("Bitte 8 Kartons Kopierpapier bestellen", [(8, "carton", "kopierpapier")]),
        ("Please buy 10 licences for Adobe Acrobat", [(10, "licence", "adobe acrobat")]),
    ],
)
def test_items_are_read_with_quantity_unit_and_description(
    body: str, expected: list[tuple[int, str, str]]
) -> None:
    assert items(body) == expected


@pytest.mark.parametrize(
    ("written", "value"),
    [
        ("1.200,50", 1200.5),
        ("1,200.50", 1200.5),
        ("30.000", 30000),
        ("30,000", 30000),
        ("30 000", 30000),
        ("2,5", 2.5),
        ("1.200.000", 1200000),
        ("3'000", 3000),
    ],
)
def test_numbers_are_read_in_english_and_german_notation(written: str, value: float) -> None:
    assert parse_number(written) == value


@pytest.mark.parametrize(
    ("text", "amount", "currency"),
    [
        ("EUR 30k", 30000, "EUR"),
        ("30.000 €", 30000, "EUR"),
        ("€30,000", 30000, "EUR"),
        ("30 000 EUR", 30000, "EUR"),
        ("USD 2.5k", 2500, "USD"),
        ("5.000,- Euro", 5000, "EUR"),
        ("£1,200.50", 1200.5, "GBP"),
        ("CHF 3'000", 3000, "CHF"),
        ("EUR600", 600, "EUR"),
    ],
)
def test_amounts_are_read_with_their_currency(text: str, amount: float, currency: str) -> None:
    [money] = find_money(text)
    assert (money.amount, money.currency) == (amount, currency)


def test_the_fields_around_the_items_are_read_in_german() -> None:
    request = read(
        "Hallo,\nwir benötigen 10 Stühle.\nBudget: 5.000 EUR, bis zum 15.03.\n"
        "Lieferant: Müller GmbH\nKostenstelle 4711\n\nViele Grüße\nKarl"
    )
    assert (request.budget, request.currency, request.deadline) == (5000, "EUR", "15.03.")
    assert (request.supplier, request.cost_centre) == ("Müller GmbH", "4711")
    assert (request.confidence, request.doubts) == (1.0, [])


def test_two_different_budgets_are_a_doubt_and_the_later_one_is_taken() -> None:
    request = read("Budget 3000 EUR for 3 chairs. Sorry, budget is EUR 5,000.")
    assert request.budget == 5000
    assert request.doubts == ["two different budgets (EUR 3,000.00 and EUR 5,000.00)"]
    assert request.confidence < 1 and needs_confirmation(request)


def test_an_item_without_a_quantity_is_a_doubt_not_an_item() -> None:
    request = read("Hello, we need new monitors.", subject="Monitors")
    assert request.items == [] and request.missing[0] == "the items and quantities"
    assert request.doubts == ["item 'monitors' has no quantity"]


def test_a_table_row_that_cannot_be_read_is_a_doubt() -> None:
    request = read("| Qty | Item |\n| three | Monitors |\n| 2 | Docks |\nBudget EUR 500")
    assert [(i.quantity, i.description) for i in request.items] == [(2, "docks")]
    assert request.doubts == [
        "a line looked like an item but could not be read: '| three | Monitors |'"
    ]


def test_quoted_text_greetings_and_signatures_are_not_read() -> None:
    request = read(
        "Hi team,\nplease order 8 chairs, budget EUR 2,400.\n\nBest regards\nBob\n"
        "Tel. +49 89 123456\n\nOn Mon, 2 Mar 2026, Ann <a@corp.example> wrote:\n> 12 chairs"
    )
    assert [(i.quantity, i.description) for i in request.items] == [(8, "chairs")]
    assert request.text == "please order 8 chairs, budget EUR 2,400."


def test_an_answer_appended_to_the_fresh_text_completes_the_request() -> None:
    first = read("Please buy 4 keyboards.\n\nThanks,\nBob\nBob Smith, Facilities")
    merged = read(f"{first.text}\nBudget is EUR 200.\n> Please reply with the budget")
    assert [(i.quantity, i.description) for i in merged.items] == [(4, "keyboards")]
    assert merged.budget == 200 and not needs_confirmation(merged)


async def test_the_rule_based_agent_extracts_with_this_reader() -> None:
    request = ExtractRequest(
        requester="r@corp.example", subject="Monitors", text="Order 3 monitors, budget EUR 600."
    )
    answer = await RuleBasedAgent().extract_request(request)
    assert [(i.quantity, i.description) for i in answer.items] == [(3, "monitors")]
    assert (answer.budget, answer.requester) == (600, "r@corp.example")


@pytest.mark.parametrize(
    "body",
    [
        "+49 " + "1 " * 50_000,
        "1 x " * 25_000,
        "We need 3 monitors, budget EUR 600. " * 3_000,
        "\n" * 200_000 + "Please order 5 chairs",  # took 589 s when each line rescanned all
        "\r\n \t" * 50_000,
    ],
)
def test_a_huge_or_hostile_body_is_read_in_bounded_time(body: str) -> None:
    started = time.perf_counter()
    read(body)
    assert time.perf_counter() - started < 5  # quadratic scans took minutes here


def test_a_request_after_thousands_of_blank_lines_is_still_read_in_bounded_time() -> None:
    started = time.perf_counter()
    assert items("\n" * 20_000 + "Please order 5 chairs") == [(5, "", "chairs")]
    assert time.perf_counter() - started < 2  # 20,000 blank lines took 5 s, 200 KB 589 s


@pytest.mark.parametrize(
    "body",
    [
        "Please order 4 Dell monitors, budget EUR 800.\n\nAnna Becker, Procurement\n"
        "3 Main Street, 80331 Munich",
        "Please order 4 Dell monitors, budget EUR 800, delivery to 12 Baker Street.",
        "Please order 4 Dell monitors, budget EUR 800. Lieferung: Hauptstraße 5, 10115 Berlin",
        "Please order 4 Dell monitors, budget EUR 800. Deliver to 7 Elm Road, 2000 Antwerp",
        "Please order 4 Dell monitors, budget EUR 800. Deliver to 12 Lindenweg.",
    ],
)
def test_an_address_is_not_read_as_items(body: str) -> None:
    request = read(body)
    assert items(body) == [(4, "", "dell monitors")]
    assert not needs_confirmation(request)


def test_a_quantity_over_ten_thousand_is_a_doubt() -> None:
    request = read("Please order 20000 pens, budget EUR 3,000.")
    assert items("Please order 20000 pens, budget EUR 3,000.") == [(20000, "", "pens")]
    assert needs_confirmation(request)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("Please order 15 Jabra Evolve2 65 headsets.", [(15, "", "jabra evolve2 65 headsets")]),
        (
            "Please order 4 x Cisco Catalyst 9200 24-port switches.",
            [(4, "", "cisco catalyst 9200 24-port switches")],
        ),
        (
            'Please order 3 MacBook Pro 14" and 3 Magic Mouse.',
            [(3, "", 'macbook pro 14"'), (3, "", "magic mouse")],
        ),
        ("wir benötigen 10 Stühle 5 Tische", [(10, "", "stühle"), (5, "", "tische")]),
    ],
)
def test_a_model_number_inside_a_name_is_part_of_the_description(
    body: str, expected: list[tuple[int, str, str]]
) -> None:
    assert items(body) == expected


@pytest.mark.parametrize(
    "body",
    [
        "Please order 5 chairs. Budget: 99999999999999999999999999999999999999 EUR",
        "Please order 5 chairs. Budget EUR 5,000,000,000,000,000 or budget EUR 2e400.",
    ],
)
def test_an_absurdly_large_amount_is_no_budget_but_a_doubt(body: str) -> None:
    request = read(body)
    assert request.budget is None and needs_confirmation(request)
    assert items(body) == [(5, "", "chairs")]


@pytest.mark.parametrize(
    "body",
    [
        "Please order 10 chairs, budget EUR 900 to EUR 1,100.",
        "Please order 10 chairs, budget 900 to 1,100 EUR.",
        "Bitte 10 Stühle bestellen, Budget 900 bis 1.100 EUR.",
        "Please order 10 chairs, budget EUR 900 \u2013 EUR 1,100.",
    ],
)
def test_a_budget_range_takes_the_upper_bound_with_a_doubt(body: str) -> None:
    request = read(body)
    assert (request.budget, request.currency) == (1100, "EUR")
    assert request.doubts == [
        "the budget is a range (EUR 900.00 to EUR 1,100.00); took EUR 1,100.00"
    ]


def test_a_budget_followed_by_a_date_is_no_range() -> None:
    request = read("Bitte 10 Stühle bestellen, Budget EUR 900 bis 15.03.")
    assert (request.budget, request.deadline, request.doubts) == (900, "15.03.", [])


@pytest.mark.parametrize(
    "body",
    [
        "Can you get us 6 desk lamps? The IKEA ones at EUR 25 each are fine. Budget EUR 200.",
        "Please order 6 desk lamps at USD 25 each from our usual shop.",
        "Bitte 6 Lampen bestellen, bei CHF 25 pro Stück.",
    ],
)
def test_a_currency_is_never_the_supplier(body: str) -> None:
    assert read(body).supplier is None


@pytest.mark.parametrize(
    "body",
    [
        "Bitte 10 Stühle bestellen. Gesamtbudget: 2.000 EUR",
        "Bitte 10 Stühle bestellen, Projektbudget 2.000 €.",
        "Bitte 10 Stühle bestellen, 2.000 EUR Gesamtbudget, Lampen je 30 EUR.",
    ],
)
def test_a_german_compound_budget_label_names_the_budget(body: str) -> None:
    request = read(body)
    assert (request.budget, request.doubts) == (2000, [])


def test_an_item_asked_for_with_an_article_beside_counted_ones_is_a_doubt() -> None:
    request = read("Wir benötigen einen Drucker und 5 Toner. Gesamtbudget 900 €.")
    assert [(i.quantity, i.description) for i in request.items] == [(5, "toner")]
    assert (request.budget, request.doubts) == (900, ["item 'drucker' has no quantity"])


@pytest.mark.parametrize(
    ("body", "deadline"),
    [
        ("Please order 3 chairs by Friday 20 December, budget EUR 300.", "Friday 20 December"),
        ("Please order 3 chairs by Friday, December 20, budget EUR 300.", "Friday, December 20"),
        ("Bitte 3 Stühle bis Freitag, 20.12. bestellen, Budget 300 EUR.", "Freitag, 20.12."),
        ("Please order 3 chairs by Friday, budget EUR 300.", "Friday"),
    ],
)
def test_a_deadline_keeps_the_date_after_its_weekday(body: str, deadline: str) -> None:
    assert read(body).deadline == deadline


def test_a_later_quantity_of_the_same_item_corrects_the_earlier_with_a_doubt() -> None:
    request = read("We need 5 monitors. Sorry, make that 6 monitors. Budget EUR 1,500.")
    assert [(i.quantity, i.description) for i in request.items] == [(6, "monitors")]
    assert request.doubts == ["'monitors' is asked for with different quantities (5 and 6); took 6"]


def test_a_correction_that_opens_with_no_is_read_as_items_not_as_an_order_number() -> None:
    for text in ("No: 5 monitors.", "Nein, 5 Monitore.", "No - 5 monitors"):
        read = extract_purchase_request(ExtractRequest(requester="a@x", subject="", text=text))
        assert [(i.quantity, i.description) for i in read.items] == [(5, read.items[0].description)]
    kept = extract_purchase_request(
        ExtractRequest(requester="a@x", subject="", text="Order No: 5512, 3 chairs")
    )
    assert [(i.quantity, i.description) for i in kept.items] == [(3, "chairs")]
