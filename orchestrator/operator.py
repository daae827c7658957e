"""The operator a command acts as: the name shown in a thread's history and in the mail a
requester gets ("rejected by alice"), never the unix account the command runs under."""

from __future__ import annotations

from orchestrator.cli_errors import CliError
from orchestrator.cli_output import UNSAFE
from orchestrator.settings import Settings


def operator_name(settings: Settings, args_by: str | None) -> str:
    """`--by NAME` when given, else MAILROOM_OPERATOR."""
    if args_by is None:
        return settings.operator
    name = args_by.strip()
    if not name or UNSAFE.search(name):
        raise CliError(f"--by {args_by!r}: give a name, without control characters")
    return name
