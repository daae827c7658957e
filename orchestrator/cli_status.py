"""`mailroom status [--json]`: one screen for an operator (orchestrator/status.py), exit 0
when nothing is wrong, 1 when a line is marked `fail` (a queue nobody serves, SMTP silent, an
IMAP source not read for long, an old backlog), 2 when Temporal cannot be reached."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any

from orchestrator.flows import FLOWS
from orchestrator.runner import run_async
from orchestrator.settings import Settings
from orchestrator.status import gather_status
from orchestrator.status_view import Status, all_ok, as_json, text

EXIT_SOMETHING_WRONG = 1


def add_status_parser(commands: Any) -> None:
    status = commands.add_parser(
        "status",
        help="what runs now: pollers per queue, SMTP, IMAP fetches, backlog, threads, last error",
    )
    status.add_argument("--json", action="store_true", help="one JSON object")


def cmd_status(settings: Settings, args: argparse.Namespace) -> int:
    status: Status = run_async(lambda: gather_status(settings, FLOWS))
    now = datetime.now(UTC)
    if args.json:
        print(json.dumps(as_json(status, now)))
    else:
        print(text(status, now))
    return 0 if all_ok(status, now) else EXIT_SOMETHING_WRONG
