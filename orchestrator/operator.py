"""The operator a command acts as: the name shown in a thread's history and in the mail a
requester gets ("rejected by alice"), never the unix account the command runs under."""

from __future__ import annotations

from orchestrator import settings_checks
from orchestrator.cli_errors import CliError
from orchestrator.cli_output import visible
from orchestrator.settings import Settings


def operator_name(settings: Settings, args_by: str | None) -> str:
    """`--by NAME` when given, else MAILROOM_OPERATOR; both must pass
    `settings_checks.operator_name` (stripped, not blank, no control, line-separator or
    bidi characters, at most 100 characters)."""
    if args_by is None:
        return settings.operator  # checked by the same rule when settings were loaded
    try:
        return settings_checks.operator_name(args_by)
    except ValueError as exc:
        raise CliError(f"--by {visible(args_by)!r}: {exc}") from None
