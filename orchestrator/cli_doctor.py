"""`mailroom doctor [--json]`: every check of orchestrator/doctor.py, one line each, exit 0
only when all are ok (1 otherwise: a check failed, the command itself did not)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from orchestrator.cli_output import visible
from orchestrator.doctor import Check, diagnose
from orchestrator.flows import FLOWS
from orchestrator.runner import run_async
from orchestrator.settings import Settings

EXIT_CHECK_FAILED = 1


def add_doctor_parser(commands: Any) -> None:
    doctor = commands.add_parser(
        "doctor",
        help="check Temporal (TLS, namespace, search attributes), workers, SMTP, the database",
    )
    doctor.add_argument("--json", action="store_true")


def cmd_doctor(settings: Settings, args: argparse.Namespace) -> int:
    checks: list[Check] = run_async(lambda: diagnose(settings, FLOWS))
    ok = all(check.ok for check in checks)
    if args.json:
        print(json.dumps({"ok": ok, "checks": [check.as_json() for check in checks]}))
    else:
        for check in checks:
            print(visible(check.line()))
    return 0 if ok else EXIT_CHECK_FAILED
