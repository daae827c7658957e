"""Money as people read it: "EUR 480,000.00", never a float's repr ("480000.0 EUR")."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

CENTS = Decimal("0.01")


def format_money(amount: float | Decimal | None, currency: str = "EUR") -> str:
    """ISO code first, thousands separated by commas, two decimals (the order used in
    English business mail and by ISO 4217 tables); "an unknown amount" for None."""
    if amount is None:
        return "an unknown amount"
    exact = Decimal(str(amount)).quantize(CENTS, rounding=ROUND_HALF_UP)
    return f"{currency.upper()} {exact:,.2f}"
