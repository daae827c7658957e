"""`mailroom erase --address ADDR [--dry-run]`: everything stored of one person removed
(orchestrator/erasure.py), and what each store lost, printed."""

from __future__ import annotations

import argparse
import json
from typing import Any

from orchestrator import bootstrap as wiring_module
from orchestrator.cli_errors import CliError
from orchestrator.cli_output import visible
from orchestrator.erasure import erase_person
from orchestrator.runner import run_async
from orchestrator.settings import Settings
from use_cases.erasure import ErasureReport

SHARED_NOTE = (
    "kept for the others in them: their history holds this person's mail, and its blobs "
    "stay until retention removes them after the thread completes"
)


def add_erase_parser(commands: Any) -> None:
    erase = commands.add_parser("erase", help="remove everything stored of one person (GDPR)")
    erase.add_argument("--address", required=True, metavar="ADDR", help="their email address")
    erase.add_argument("--dry-run", action="store_true", help="count what would go; change nothing")
    erase.add_argument("--json", action="store_true")


def cmd_erase(settings: Settings, args: argparse.Namespace) -> int:
    require_installation(settings)
    wiring = wiring_module.bootstrap(settings)

    async def erase() -> ErasureReport:
        try:
            client = await wiring_module.connect(settings)
            return await erase_person(wiring, client, args.address, dry_run=args.dry_run)
        except ValueError as exc:
            raise CliError(str(exc)) from None
        finally:
            await wiring_module.close_stores(wiring)

    report = run_async(erase)
    print(json.dumps(report.model_dump()) if args.json else "\n".join(report_lines(report)))
    return 0


def require_installation(settings: Settings) -> None:
    """A data directory that is not there is a mistyped one (or another machine's): say so,
    rather than make an empty installation in it (its keys included) and report nothing."""
    if not settings.data_dir.is_dir():
        raise CliError(
            f"MAILROOM_DATA_DIR: {settings.data_dir} is no installation's data directory"
        )


def report_lines(report: ErasureReport) -> list[str]:
    verb = "would erase" if report.dry_run else "erased"
    lines = [f"{verb} {visible(report.address)}:"]
    lines += [f"  {store}: {count}" for store, count in report.removed.items()]
    if report.shared_threads:
        lines.append(f"  shared threads {SHARED_NOTE}:")
        lines += [f"    {visible(thread)}" for thread in report.shared_threads]
    return lines
