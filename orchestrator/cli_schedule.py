"""`mailroom schedule list|create|delete|pause|unpause|trigger`: flows on Temporal Schedules."""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from temporalio.client import Client, ScheduleHandle
from temporalio.service import RPCError, RPCStatusCode

from orchestrator.bootstrap import connect
from orchestrator.cli_errors import CliError
from orchestrator.cli_output import visible
from orchestrator.flow_spec import FlowSpec
from orchestrator.flows import FLOWS, flow_named
from orchestrator.runner import run_async
from orchestrator.schedules import (
    ScheduleError,
    create_schedule,
    flow_schedule,
    schedulable,
    schedule_row,
)
from orchestrator.settings import Settings

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
EVERY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
DONE = {
    "create": "created",
    "delete": "deleted",
    "pause": "paused",
    "unpause": "unpaused",
    "trigger": "triggered",
}


def add_schedule_parser(commands: Any) -> None:
    schedule = commands.add_parser("schedule", help="flows started on a schedule")
    verbs = schedule.add_subparsers(dest="action", required=True, metavar="ACTION")
    verbs.add_parser("list", help="the schedules, next and last run").add_argument(
        "--json", action="store_true"
    )
    create = verbs.add_parser("create", help="start FLOW on a cron or an interval")
    create.add_argument("name", metavar="NAME", help="the schedule's name; runs are NAME-<time>")
    create.add_argument("--flow", required=True, help="a registered flow that runs alone")
    when = create.add_mutually_exclusive_group(required=True)
    when.add_argument("--cron", metavar="EXPR", help="e.g. '0 7 * * *' (UTC)")
    when.add_argument("--every", metavar="DURATION", help="e.g. 30s, 15m, 1h, 1d, PT2H")
    create.add_argument("--field", action="append", default=[], metavar="K=V")
    create.add_argument("--input", type=Path, metavar="FILE.json", help="the flow's input")
    create.add_argument(
        "--paused", action="store_true", help="created paused: it fires once unpaused"
    )
    create.add_argument("--json", action="store_true")
    for verb, meaning in (
        ("delete", "delete a schedule (runs under way go on)"),
        ("pause", "stop a schedule's firing until unpaused"),
        ("unpause", "let a paused schedule fire again"),
        ("trigger", "start a run now (a paused schedule too)"),
    ):
        action = verbs.add_parser(verb, help=meaning)
        action.add_argument("name", metavar="NAME")
        action.add_argument("--json", action="store_true")


def cmd_schedule(settings: Settings, args: argparse.Namespace) -> int:
    if args.action == "list":
        return list_schedules(settings, args.json)
    name = schedule_name(args.name)
    if args.action == "create":
        spec, flow_input, every = create_request(args)

        async def create() -> None:
            schedule = flow_schedule(
                spec,
                name,
                flow_input,
                cron=args.cron,
                every=every,
                paused=args.paused,
                queue_prefix=settings.queue_prefix,
            )
            try:
                await create_schedule(await connect(settings), name, schedule)
            except ScheduleError as exc:
                raise CliError(str(exc)) from None

        run_async(create)
    else:
        run_async(lambda: act(settings, name, args.action))
    said = DONE[args.action]
    if args.json:
        print(json.dumps({"name": name, "action": said}))
    else:
        print(f"schedule {visible(name)}: {said}")
    return 0


def schedule_name(text: str) -> str:
    if not NAME.match(text):
        raise CliError(
            f"{visible(text)!r}: a schedule name is letters, digits, '.', '_' and '-' "
            "(at most 200, starting with a letter or digit)"
        )
    return text


def create_request(args: argparse.Namespace) -> tuple[FlowSpec, BaseModel, timedelta | None]:
    spec = flow_named(args.flow)
    if spec is None:
        known = ", ".join(f.name for f in FLOWS if not f.threaded)
        raise CliError(f"--flow: no flow named {visible(args.flow)!r} (schedulable: {known})")
    try:
        schedulable(spec)
    except ScheduleError as exc:
        raise CliError(f"--flow: {exc}") from None
    every = parse_every(args.every) if args.every else None
    return spec, flow_input(spec, args.field, args.input), every


def parse_every(text: str) -> timedelta:
    """`30s`, `15m`, `1h`, `1d`, `90` (seconds) or ISO 8601 (`PT2H`): at least one second."""
    match = EVERY.match(text)
    if match:
        every = timedelta(seconds=float(match.group(1)) * UNIT_SECONDS[match.group(2)])
    else:
        from orchestrator.settings import DURATION

        try:
            every = DURATION.validate_python(text.strip())
        except ValidationError:
            message = f"--every: {visible(text)!r} is not a duration (30s, 15m, 1h, PT2H)"
            raise CliError(message) from None
    if every < timedelta(seconds=1):
        raise CliError(f"--every: {visible(text)!r} is under one second")
    return every


def flow_input(spec: FlowSpec, fields: Sequence[str], path: Path | None) -> BaseModel:
    """The flow's input from `--input FILE.json`, then each `--field k=v` over it."""
    values: dict[str, Any] = {}
    if path is not None and fields:  # which would win is a guess: say it
        raise CliError("give the input by --input FILE.json or by --field, not both")
    if path is not None:
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CliError(f"--input {visible(path)}: {visible(exc)}") from None
        if not isinstance(loaded, dict):
            raise CliError(f"--input {visible(path)}: a JSON object is needed")
        values.update(loaded)
    for field in fields:
        key, sep, value = field.partition("=")
        if not sep or not key.strip():
            raise CliError(f"--field {visible(field)!r}: write it as name=value")
        values[key.strip()] = value
    try:
        return spec.input.model_validate(values)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "input"
        message = error["msg"].removeprefix("Value error, ")
        raise CliError(f"--field {visible(where)}: {visible(message)}") from None


async def act(settings: Settings, name: str, action: str) -> None:
    handle = (await connect(settings)).get_schedule_handle(name)
    try:
        await _act(handle, action)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise CliError(f"no schedule named {name!r}") from None
        raise


async def _act(handle: ScheduleHandle, action: str) -> None:
    if action == "delete":
        await handle.delete()
    elif action == "pause":
        await handle.pause(note="paused with mailroom schedule pause")
    elif action == "unpause":
        await handle.unpause(note="unpaused with mailroom schedule unpause")
    else:
        await handle.trigger()


def list_schedules(settings: Settings, as_json: bool) -> int:
    async def rows() -> list[dict[str, Any]]:
        client: Client = await connect(settings)
        found = [schedule_row(e, FLOWS) async for e in await client.list_schedules()]
        return sorted(found, key=lambda row: str(row["name"]))

    listed = run_async(rows)
    if as_json:
        print(json.dumps(listed, indent=2))
        return 0
    if not listed:
        print("no schedules")
        return 0
    table: list[tuple[str, ...]] = [("NAME", "FLOW", "WHEN", "NEXT", "LAST")]
    for row in listed:
        upcoming = "paused" if row["paused"] else row["next_run"] or "-"
        cells = (row["name"], row["flow"] or "-", row["when"], upcoming, row["last_run"] or "-")
        table.append(tuple(visible(cell) for cell in cells))
    widths = [max(len(line[n]) for line in table) for n in range(4)]
    for line in table:
        padded = [cell.ljust(width) for cell, width in zip(line, widths, strict=False)]
        print("  ".join([*padded, line[4]]))
    return 0
