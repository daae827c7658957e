"""bench.ingest's command line, and the process counts it runs mailroom with: `--workers N`,
`--smtp-processes N` (`mailroom worker --processes N`, `mailroom smtp --processes N`) and
`--scaling 1,2,…` (a row per N, both roles at N)."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.mails import MAILBOX, ORDERS
from orchestrator.process_roles import MAX_PROCESSES


def process_count(text: str) -> int:
    """A whole number from 1 to MAX_PROCESSES, as `mailroom --processes` takes."""
    try:
        count = int(text)
    except ValueError:
        count = 0
    if not 1 <= count <= MAX_PROCESSES:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give a whole number of processes from 1 to {MAX_PROCESSES}"
        )
    return count


def process_series(text: str) -> list[int]:
    """`1,2,4`: a row per count, in the order given. A count may come again (`1,2,1,2`): on a
    shared machine, alternating rows show how much of a difference is the machine's drift."""
    counts = [process_count(part.strip()) for part in text.split(",") if part.strip()]
    if not counts:
        raise argparse.ArgumentTypeError(f"{text!r}: give process counts, such as 1,2")
    return counts


def add_process_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workers",
        type=process_count,
        default=1,
        metavar="N",
        help="worker processes (`mailroom worker --processes N`)",
    )
    parser.add_argument(
        "--smtp-processes",
        type=process_count,
        default=1,
        metavar="N",
        help="SMTP adapter processes (`mailroom smtp --processes N`), the front end's too",
    )
    parser.add_argument(
        "--scaling",
        type=process_series,
        metavar="N,N,…",
        help="instead of the four passes: for each N, a fresh stack with N workers and N "
        "SMTP processes, its flat-out and front-end passes; one row per N, with its ratio "
        "to the first N (see bench.scaling)",
    )


def check_process_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """--scaling chooses both counts for each row: refuse what would contradict it."""
    if args.scaling is None:
        return
    if args.workers != 1 or args.smtp_processes != 1:
        parser.error("--scaling sets the workers and SMTP processes of each row itself")
    if args.paced:
        parser.error("--scaling runs flat out: leave --paced out")


DESCRIPTION = "Ingest benchmark: the real stack over real SMTP against bare Temporal, in one run."


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.ingest", description=DESCRIPTION)
    p.add_argument("--mails", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--threads", type=int, default=200)
    p.add_argument("--order", choices=ORDERS, default=ORDERS[0], help="see bench.mails")
    p.add_argument("--mailbox", default=MAILBOX, help="recipient (its flow, if any, runs)")
    p.add_argument(
        "--max-backlog", type=float, help="the adapter's MAILROOM_MAX_BACKLOG_SECONDS (default 10)"
    )
    p.add_argument(
        "--hold", type=float, help="the adapter's MAILROOM_BACKLOG_HOLD_SECONDS (default 20)"
    )
    p.add_argument(
        "--paced", type=float, help="only one SMTP pass at this rate (mails/s): for profiling"
    )
    add_process_options(p)
    p.add_argument("--log-level", default="info", help="of the mailroom processes (as `up`)")
    p.add_argument("--keep", action="store_true", help="keep the temp data dir")
    p.add_argument("--dump", type=Path, help="write per-mail [pass, id, sent, 250, applied]")
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = parser()
    args = p.parse_args(argv)
    check_process_options(p, args)
    return args
