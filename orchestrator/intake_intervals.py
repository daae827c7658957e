"""MAILROOM_INTAKE_EXPECTED_INTERVAL: how long each intake source (a configured SMTP mailbox
or an IMAP source name) may stay quiet before the "intake quiet" alert (issue 21).

Comma-separated entries, `DURATION` (every source not named; at most once) and
`SOURCE=DURATION` (one source), e.g. `0,support@example.com=4h,imap-main=30m`. A duration is
a number with a unit s, m, h or d (none: seconds); 0 never alerts, and is the default.
A mailbox may be written in any spelling MAILROOM_MAILBOXES accepts (named_source)."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from use_cases.mailboxes import normalize_address

# The source of SMTP mail when no mailbox is listed (any local part at the domains accepted).
ANY_MAILBOX = "smtp"
UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd]?)")


@dataclass(frozen=True)
class ExpectedIntervals:
    """Seconds each source may stay quiet: `per_source`'s, else `default` (0: never)."""

    default: float = 0.0
    per_source: Mapping[str, float] = field(default_factory=dict)

    def for_source(self, source: str) -> float:
        return self.per_source.get(source, self.default)


def parse_duration(text: str) -> float:
    """`90`, `90s`, `30m`, `4h`, `2d` in seconds; ValueError naming the text otherwise."""
    match = DURATION.fullmatch(text.strip().lower())
    if match is None:
        raise ValueError(f"{text.strip()!r} is not a duration (a number and s, m, h or d)")
    return float(match[1]) * UNITS[match[2]]


def parse_expected_intervals(text: str, mailboxes: Collection[str] = ()) -> ExpectedIntervals:
    """The setting's value; ValueError (one line) naming the entry that is wrong.
    `mailboxes`: the configured ones (in their one form), which an entry may name in any
    spelling MAILROOM_MAILBOXES accepts."""
    default: float | None = None
    per_source: dict[str, float] = {}
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        written, equals, duration = entry.rpartition("=")
        seconds = parse_duration(duration)
        source = named_source(written.strip(), mailboxes)
        if not equals:
            if default is not None:
                raise ValueError(f"{entry!r}: a second default (write SOURCE=DURATION)")
            default = seconds
        elif not source or source in per_source:
            raise ValueError(f"{entry!r}: give each source once, as SOURCE=DURATION")
        else:
            per_source[source] = seconds
    return ExpectedIntervals(default or 0.0, per_source)


def named_source(written: str, mailboxes: Collection[str]) -> str:
    """`Support@Example.COM` names the mailbox `support@example.com`; any other source
    (an IMAP source's name=, case and all) is named as written."""
    form = normalize_address(written)
    return form if form in mailboxes else written
