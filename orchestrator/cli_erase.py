"""`mailroom erase --address ADDR [--dry-run]`: everything stored of one person removed
(orchestrator/erasure.py), and what each store lost, printed."""

from __future__ import annotations

import argparse
import json
from typing import Any

from temporalio.client import Client

from orchestrator.bootstrap import Wiring
from orchestrator.cli_errors import CliError
from orchestrator.cli_output import visible
from orchestrator.cli_wired import run_wired
from orchestrator.erasure import erase_person
from orchestrator.settings import Settings
from use_cases.erasure import ErasureReport

SHARED_NOTE = (
    "kept for the others in them, going on without this person's mail (their earlier runs, "
    "which recorded it, deleted)"
)
HOLDING_NOTE = (
    "still holding this person's mail in their current run (a flow that cannot pause "
    "before it ends, or no worker running): run this again once they have ended"
)


def add_erase_parser(commands: Any) -> None:
    erase = commands.add_parser("erase", help="remove everything stored of one person (GDPR)")
    erase.add_argument("--address", required=True, metavar="ADDR", help="their email address")
    erase.add_argument("--dry-run", action="store_true", help="count what would go; change nothing")
    erase.add_argument("--json", action="store_true")


def cmd_erase(settings: Settings, args: argparse.Namespace) -> int:
    async def erase(wiring: Wiring, client: Client) -> ErasureReport:
        try:
            return await erase_person(wiring, client, args.address, dry_run=args.dry_run)
        except ValueError as exc:
            raise CliError(str(exc)) from None

    report = run_wired(settings, erase)
    print(json.dumps(report.model_dump()) if args.json else "\n".join(report_lines(report)))
    return 0


def report_lines(report: ErasureReport) -> list[str]:
    verb = "would erase" if report.dry_run else "erased"
    lines = [f"{verb} {visible(report.address)}:"]
    lines += [f"  {store}: {count}" for store, count in report.removed.items()]
    done = [t for t in report.shared_threads if not holding_in(t, report.holding)]
    if done:
        lines.append(f"  shared threads {SHARED_NOTE}:")
        lines += [f"    {visible(thread)}" for thread in done]
    if report.holding:
        lines.append(f"  {HOLDING_NOTE}:")
        lines += [f"    {visible(workflow_id)}" for workflow_id in report.holding]
    return lines


def holding_in(thread_id: str, holding: list[str]) -> bool:
    """The thread, or one of its flows (`<thread id>-<flow>-<n>`), still holds them."""
    return any(h == thread_id or h.startswith(f"{thread_id}-") for h in holding)
