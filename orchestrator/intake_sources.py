"""The intake's sources for the metrics (issue 21): each configured SMTP mailbox and each
IMAP source name, how long each may stay quiet (MAILROOM_INTAKE_EXPECTED_INTERVAL), and the
"last accepted" mark when one of them takes a mail. A source is always a name from the
configuration, never an address from a mail, so the `source` label stays bounded.
The intervals' syntax: orchestrator/intake_intervals.py."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import TypeVar

from adapters.inbound.imap_errors import IMAP_ERRORS
from adapters.inbound.imap_source import parse_source
from orchestrator.intake_intervals import (
    ANY_MAILBOX,
    parse_expected_intervals,
)
from orchestrator.settings import Settings
from use_cases.ports import IntakeMetrics, ProcessMetrics

T = TypeVar("T")


def smtp_sources(settings: Settings) -> tuple[str, ...]:
    """The configured mailboxes, or ANY_MAILBOX when none is listed."""
    return tuple(sorted(settings.mailboxes)) or (ANY_MAILBOX,)


def imap_source_names(settings: Settings) -> tuple[str, ...]:
    return tuple(parse_source(url).source_name for url in settings.imap_sources)


def declare_sources(metrics: ProcessMetrics, settings: Settings, parts: Collection[str]) -> None:
    """The sources this process takes mail from, for `parts` (smtp, imap), with their
    expected intervals: from now, each may alert if it stays quiet (an IMAP source also
    if it never fetches)."""
    intervals = parse_expected_intervals(settings.intake_expected_interval, settings.mailboxes)
    sources = smtp_sources(settings) if "smtp" in parts else ()
    sources += imap_source_names(settings) if "imap" in parts else ()
    if sources:
        metrics.sources_expected({s: intervals.for_source(s) for s in sources})
    if "imap" in parts:
        metrics.sources_polled(imap_source_names(settings), IMAP_ERRORS)


def smtp_taken(metrics: IntakeMetrics, settings: Settings, mailboxes: Sequence[str]) -> None:
    """Mail to `mailboxes` (what SMTP resolved the recipients to) was handed off."""
    listed = settings.mailboxes
    for mailbox in mailboxes:
        metrics.mail_taken(mailbox if listed else ANY_MAILBOX)  # not listed: ignored


def taking(
    ingest: Callable[[bytes], Awaitable[T]], metrics: IntakeMetrics, source: str
) -> Callable[[bytes], Awaitable[T]]:
    """`ingest`, marking `source` as having accepted a mail each time it succeeds."""

    async def ingest_and_mark(raw: bytes) -> T:
        ingested = await ingest(raw)
        metrics.mail_taken(source)
        return ingested

    return ingest_and_mark
