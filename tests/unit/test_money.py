from decimal import Decimal

import pytest

from use_cases.money import format_money


def test_money_is_shown_with_its_code_thousands_and_cents() -> None:
    assert format_money(480000.0, "EUR") == "EUR 480,000.00"
    assert format_money(1200.5, "usd") == "USD 1,200.50"
    assert format_money(Decimal("0.005")) == "EUR 0.01"


def test_an_unknown_amount_says_so() -> None:
    assert format_money(None) == "an unknown amount"


@pytest.mark.parametrize(
    "amount",
    [float("inf"), float("-inf"), float("nan"), Decimal("NaN"), Decimal("sNaN"), Decimal("Inf")],
)
def test_an_amount_that_is_no_number_is_an_unknown_amount(amount: float | Decimal) -> None:
    assert format_money(amount) == "an unknown amount"


@pytest.mark.parametrize(
    "amount", [1e308, 1e38, -1e300, Decimal("9" * 40), Decimal("1E+999999"), 5e-324]
)
def test_any_finite_amount_is_shown_without_raising(amount: float | Decimal) -> None:
    shown = format_money(amount, "EUR")
    assert shown.startswith("EUR ") and len(shown) < 80
