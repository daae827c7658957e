"""structlog set-up: a console renderer on a TTY, one JSON object per line otherwise."""

from __future__ import annotations

import logging
import sys

import structlog

from orchestrator.cli_output import visible


def configure_logging(level: str = "info") -> None:
    numeric = logging.getLevelName(level.upper())
    on_terminal = sys.stderr.isatty()
    # JSON escapes control characters itself; the console renderer writes them raw, and a
    # logged subject or Message-ID comes from mail (orchestrator/cli_output.py).
    renderers: list[structlog.typing.Processor] = (
        [escape_controls, structlog.dev.ConsoleRenderer()]
        if on_terminal
        else [structlog.processors.JSONRenderer()]
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            *renderers,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        # One write per line (print() writes the line and its newline apart): the processes
        # of a group (orchestrator/process_group.py) share one stderr, and two lines written
        # at once came out as one that no JSON reader could parse.
        logger_factory=structlog.WriteLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    # temporalio and aiosmtpd log through the stdlib; keep their warnings, drop their chatter.
    logging.basicConfig(
        level=max(numeric, logging.WARNING),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def escape_controls(
    logger: object, method: str, event: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    """Every string value with its control characters escaped (tracebacks keep their lines)."""
    return {
        key: value if not isinstance(value, str) or key == "exception" else visible(value)
        for key, value in event.items()
    }
