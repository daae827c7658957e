from decimal import Decimal

from use_cases.money import format_money


def test_money_is_shown_with_its_code_thousands_and_cents() -> None:
    assert format_money(480000.0, "EUR") == "EUR 480,000.00"
    assert format_money(1200.5, "usd") == "USD 1,200.50"
    assert format_money(Decimal("0.005")) == "EUR 0.01"


def test_an_unknown_amount_says_so() -> None:
    assert format_money(None) == "an unknown amount"
