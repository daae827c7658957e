"""How every `mailroom` command fails: one line on stderr and exit code 2, no traceback."""

from __future__ import annotations

EXIT_ERROR = 2


class CliError(Exception):
    """A usage error the CLI reports in one line, with exit code 2."""
