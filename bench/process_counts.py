"""The process counts bench.ingest runs mailroom with: `--workers N`, `--smtp-processes N`
(`mailroom worker --processes N`, `mailroom smtp --processes N`) and `--scaling 1,2,…` (a row
per N, both roles at N)."""

from __future__ import annotations

import argparse

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
