"""`python -m bench.purchase_extraction [--table PATH]`: the offline extractor over the table
of purchase requests in tests/fixtures/purchase_requests.toml; prints each mismatch, then the
exact-match rate, then one JSON line {"cases": N, "exact": N, "rate": R}. Not part of
`make bench` (it measures correctness, not speed, and the unit tests assert it)."""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.agents.extraction import extract_purchase_request, needs_confirmation
from bench.harness import ROOT
from use_cases.flows import ExtractRequest, PurchaseRequest

TABLE = ROOT / "tests" / "fixtures" / "purchase_requests.toml"
FIELDS = ("items", "budget", "currency", "deadline", "supplier", "cost_centre", "unsure")


@dataclass
class Evaluation:
    cases: int
    exact: int
    mismatches: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.exact / self.cases if self.cases else 0.0


def load_cases(path: Path = TABLE) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = tomllib.loads(path.read_text("utf-8"))["case"]
    return cases


def expected(case: dict[str, Any]) -> dict[str, Any]:
    return {
        "items": [tuple(item) for item in case["items"]],
        "budget": case.get("budget"),
        "currency": case.get("currency", "EUR"),
        "deadline": case.get("deadline"),
        "supplier": case.get("supplier"),
        "cost_centre": case.get("cost_centre"),
        "unsure": case["unsure"],
    }


def extracted(case: dict[str, Any]) -> tuple[dict[str, Any], PurchaseRequest]:
    request = ExtractRequest(
        requester="req@corp.example", subject=case["subject"], text=case["body"]
    )
    found = extract_purchase_request(request)
    return {
        "items": [(i.quantity, i.unit, i.description) for i in found.items],
        "budget": found.budget,
        "currency": found.currency,
        "deadline": found.deadline,
        "supplier": found.supplier,
        "cost_centre": found.cost_centre,
        "unsure": needs_confirmation(found),
    }, found


def evaluate(path: Path = TABLE) -> Evaluation:
    """How many cases the extractor reads exactly as expected, and what differs in the rest."""
    cases = load_cases(path)
    evaluation = Evaluation(cases=len(cases), exact=0)
    for case in cases:
        want = expected(case)
        got, found = extracted(case)
        if got == want:
            evaluation.exact += 1
            continue
        wrong = [
            f"  {name}: expected {want[name]!r}, got {got[name]!r}"
            for name in FIELDS
            if got[name] != want[name]
        ]
        evaluation.mismatches.append(
            "\n".join([f"{case['name']} (doubts: {found.doubts})", *wrong])
        )
    return evaluation


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.purchase_extraction", description=__doc__
    )
    parser.add_argument("--table", type=Path, default=TABLE)
    args = parser.parse_args()
    evaluation = evaluate(args.table)
    for mismatch in evaluation.mismatches:
        print(mismatch)
    print(f"{evaluation.exact} of {evaluation.cases} exactly right: {evaluation.rate:.1%}")
    print(
        json.dumps(
            {
                "cases": evaluation.cases,
                "exact": evaluation.exact,
                "rate": round(evaluation.rate, 4),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
