"""Logging set-up: a console renderer on a TTY, one JSON object per line otherwise, for
mailroom's structlog lines and for every stdlib record (the Temporal SDK, the workflow and
activity loggers, aiosmtpd) alike, at the configured level."""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog
from temporalio import activity, workflow

from orchestrator.cli_output import visible
from orchestrator.log_context import WORKFLOW_INFO, add_thread_context
from orchestrator.tracing import add_trace_ids

# aiosmtpd logs every connection at INFO (peer, commands): a flood would be a flood of lines,
# so its records are kept from warning up unless the level is debug.
QUIET_BELOW_DEBUG = ("mail.log",)
# What the SDK's adapters put in a record's extra (temporalio's workflow.LoggerAdapter,
# activity.LoggerAdapter), and what mailroom's own stdlib calls may pass as extra.
TEMPORAL_EXTRAS = ("temporal_workflow", "temporal_activity")
MAILROOM_EXTRAS = ("thread_id", "message_id", "flow")


def configure_logging(level: str = "info") -> None:
    numeric = logging.getLevelName(level.upper())
    renderer = console_or_json(sys.stderr.isatty())
    structlog.configure(
        processors=[add_activity_details, add_thread_context, *shared_processors(), *renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        # One write per line (print() writes the line and its newline apart): the processes
        # of a group (orchestrator/process_group.py) share one stderr, and two lines written
        # at once came out as one that no JSON reader could parse.
        logger_factory=structlog.WriteLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    route_stdlib_records(numeric, renderer)


def route_stdlib_records(numeric: int, renderer: list[structlog.typing.Processor]) -> None:
    """The root logger's one handler renders each record through structlog's processors
    (StreamHandler writes the line and its newline in one write, as above)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                structlog.stdlib.add_logger_name,
                structlog.stdlib.ExtraAdder(
                    allow=[*TEMPORAL_EXTRAS, *MAILROOM_EXTRAS, WORKFLOW_INFO]
                ),
                lift_temporal_details,
                add_thread_context,
                *shared_processors(),
            ],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    for name in QUIET_BELOW_DEBUG:
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))
    # The details are fields of the line now; the SDK's default also appends them to the
    # message as a dict's repr, which would say them twice.
    workflow.logger.workflow_info_on_message = False
    workflow.logger.full_workflow_info_on_extra = True  # an inline flow's name (log_context.py)
    activity.logger.activity_info_on_message = False


def shared_processors() -> list[structlog.typing.Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        add_trace_ids,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
    ]


def console_or_json(on_terminal: bool) -> list[structlog.typing.Processor]:
    # JSON escapes control characters itself; the console renderer writes them raw, and a
    # logged subject or Message-ID comes from mail (orchestrator/cli_output.py).
    if on_terminal:
        return [escape_controls, structlog.dev.ConsoleRenderer()]
    return [structlog.processors.JSONRenderer()]


def lift_temporal_details(
    logger: object, method: str, event: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    """workflow_id, run_id, workflow_type/activity_type, task_queue… as fields of the line,
    not one nested dict (a log query filters on `workflow_id` directly)."""
    for key in TEMPORAL_EXTRAS:
        details: Any = event.pop(key, None)
        if isinstance(details, dict):
            for name, value in details.items():
                event.setdefault(name, value)
    return event


def add_activity_details(
    logger: object, method: str, event: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    """A mailroom line logged inside an activity (an adapter the activity calls) names the
    activity and its workflow as the activity logger's lines do."""
    if activity.in_activity():
        info = activity.info()
        event.setdefault("workflow_id", info.workflow_id)
        event.setdefault("workflow_run_id", info.workflow_run_id)
        event.setdefault("workflow_type", info.workflow_type)
        event.setdefault("activity_type", info.activity_type)
        event.setdefault("task_queue", info.task_queue)
    return event


def escape_controls(
    logger: object, method: str, event: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    """Every string value with its control characters escaped (tracebacks keep their lines)."""
    return {
        key: value if not isinstance(value, str) or key == "exception" else visible(value)
        for key, value in event.items()
    }
