"""`mailroom purge [--dry-run]`: retention's purge run now, in this process, on the stores
and the Temporal the settings name (the schedule `mailroom-purge` runs the same activity)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from temporalio.client import Client

from orchestrator.bootstrap import Wiring
from orchestrator.cli_wired import run_wired
from orchestrator.purge import purge_activities_of
from orchestrator.settings import Settings
from use_cases.retention import PurgeInput, PurgeReport


def add_purge_parser(commands: Any) -> None:
    purge = commands.add_parser(
        "purge", help="remove the blobs of threads completed MAILROOM_RETENTION_DAYS ago"
    )
    purge.add_argument("--dry-run", action="store_true", help="say what would go; remove nothing")
    purge.add_argument("--json", action="store_true")


def cmd_purge(settings: Settings, args: argparse.Namespace) -> int:
    async def purge(wiring: Wiring, client: Client) -> PurgeReport:
        activities = purge_activities_of(wiring, client)
        return await activities.purge_expired_blobs(PurgeInput(dry_run=args.dry_run))

    report = run_wired(settings, purge)
    print(json.dumps(report.model_dump()) if args.json else purge_line(report))
    return 0


def purge_line(report: PurgeReport) -> str:
    verb = "would remove" if report.dry_run else "removed"
    return (
        f"{verb} {report.blobs} blobs ({report.bytes} bytes) of {report.threads} threads "
        f"completed more than {report.retention_days} days ago"
    )
