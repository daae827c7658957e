"""`mailroom coordinator [--json]`: the coordinator's items and lanes (its query);
`mailroom coordinator release ITEM`: an operator takes a lane back from a stuck holder (it is
told LOST and forgotten, and the next in line goes)."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from typing import Any

from orchestrator.bootstrap import connect, coordinator
from orchestrator.cli_errors import CliError
from orchestrator.cli_output import visible
from orchestrator.runner import run_async
from orchestrator.settings import Settings
from use_cases.coordinator import CoordinatorView, ItemView

NOT_RUNNING = "no coordinator running"


def add_coordinator_parser(commands: Any) -> None:
    shown = commands.add_parser("coordinator", help="the coordinator's items and lanes")
    shown.add_argument("--json", action="store_true")
    actions = shown.add_subparsers(dest="action", metavar="ACTION")
    release = actions.add_parser("release", help="take an item's lanes back (it is told LOST)")
    release.add_argument("item", metavar="ITEM", help="an item id (`mailroom coordinator`)")


def cmd_coordinator(settings: Settings, args: argparse.Namespace) -> int:
    if getattr(args, "action", None) == "release":
        return _release(settings, args.item)
    shown = run_async(lambda: _view(settings))
    if args.json:
        print(json.dumps(shown.model_dump(mode="json") if shown else None))
    elif shown is None:
        print(NOT_RUNNING)
    else:
        print("\n".join(coordinator_table(shown)))
    return 0


async def _view(settings: Settings) -> CoordinatorView | None:
    return await coordinator(settings, await connect(settings)).view()


def _release(settings: Settings, item_id: str) -> int:
    async def go() -> str:
        coordinating = coordinator(settings, await connect(settings))
        shown = await coordinating.view()
        if shown is None:
            raise CliError(f"{NOT_RUNNING}: nothing to release")
        if item_id not in shown.items:
            raise CliError(f"the coordinator knows no item {visible(item_id)}")
        await coordinating.release(item_id)
        lane = shown.items[item_id].lane
        held = f" (it held {visible(lane)})" if lane else ""
        return f"released {visible(item_id)}{held}"

    print(run_async(go))
    return 0


COLUMNS = ("ITEM", "KIND", "LANE", "PROCESSING", "SINCE", "LEASE")


def coordinator_table(shown: CoordinatorView) -> list[str]:
    rows = [COLUMNS, *(_row(item) for item in shown.items.values())]
    widths = [max(len(row[n]) for row in rows) for n in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    holding = sum(1 for item in shown.items.values() if item.processing)
    lines.append(
        f"{shown.total_items} items, {holding} processing, {len(shown.lanes)} lanes, "
        f"{shown.signals_handled} signals handled, run {shown.runs}"
    )
    return [line.rstrip() for line in lines]


def _row(item: ItemView) -> tuple[str, ...]:
    lane = item.lane or (f"{item.queued_for} (queued)" if item.queued_for else "-")
    return (
        visible(item.item_id),
        visible(item.kind),
        visible(lane),
        "yes" if item.processing else "no",
        _time(item.since),
        _time(item.lease_until),
    )


def _time(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "-"
