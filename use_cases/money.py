"""Money as people read it: "EUR 480,000.00", never a float's repr ("480000.0 EUR")."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

CENTS = Decimal("0.01")
UNKNOWN = "an unknown amount"
# From here on an amount is shown in scientific notation: quantizing it to cents would need
# more digits than Decimal's context holds (and no real amount is this large).
LARGEST_IN_CENTS = Decimal(10) ** 15


def format_money(amount: float | Decimal | None, currency: str = "EUR") -> str:
    """ISO code first, thousands separated by commas, two decimals (the order used in
    English business mail and by ISO 4217 tables); "an unknown amount" for None, infinity
    and NaN. Never raises: it words doubts and errors about absurd amounts, too."""
    if amount is None:
        return UNKNOWN
    exact = Decimal(str(amount))
    if not exact.is_finite():
        return UNKNOWN
    if abs(exact) >= LARGEST_IN_CENTS:
        return f"{currency.upper()} {exact:.2E}"
    exact = exact.quantize(CENTS, rounding=ROUND_HALF_UP)
    return f"{currency.upper()} {exact:,.2f}"
