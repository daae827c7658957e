"""`mailroom flows` (the registry and who serves it) and `mailroom start FLOW` (a flow
started by command: in a new mail thread, or alone for a flow that is not threaded)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from orchestrator.bootstrap import Wiring, bootstrap, connect, gateway
from orchestrator.cli_errors import CliError
from orchestrator.cli_output import visible
from orchestrator.flow_checks import (
    FlowRow,
    QueuePollers,
    UnservedFlow,
    flow_rows,
    queue_pollers,
)
from orchestrator.flow_spec import FlowSpec, NoInput
from orchestrator.flows import FLOWS, flow_named
from orchestrator.operator import operator_name
from orchestrator.runner import run_async
from orchestrator.settings import Settings
from use_cases.models import ThreadStatus
from use_cases.ports import ThreadNotFound
from use_cases.started_flows import (
    InputRefused,
    flow_mailbox,
    index_entry,
    start_hash,
    started_thread,
    validated_input,
)
from use_cases.threading import reply_address
from use_cases.tickets import ticket_reference

THREADS = "(threads)"  # the row of the thread workflows' own queue


def add_flow_parsers(commands: Any) -> None:
    flows = commands.add_parser("flows", help="list the registered flows and who serves them")
    flows.add_argument("--json", action="store_true")
    start = commands.add_parser("start", help="start a flow by command, without mail")
    start.add_argument("flow", metavar="FLOW", help="a registered flow (`mailroom flows`)")
    given = start.add_mutually_exclusive_group(required=True)
    given.add_argument(
        "--field",
        action="append",
        metavar="NAME=VALUE",
        help="one input field (repeat a name for a list: --field items='2 x chair')",
    )
    given.add_argument("--input", type=Path, metavar="FILE.json", help="the input as JSON")
    start.add_argument("--by", metavar="NAME", help="the operator acting (MAILROOM_OPERATOR)")


def cmd_flows(settings: Settings, args: argparse.Namespace) -> int:
    async def go() -> tuple[list[FlowRow], QueuePollers]:
        client = await connect(settings)
        rows = await flow_rows(client, FLOWS, settings)
        return rows, await queue_pollers(client, settings.task_queue)

    rows, threads = run_async(go)
    if args.json:
        print(json.dumps({"flows": [row_json(r) for r in rows], "threads": pollers_json(threads)}))
    else:
        print("\n".join(flows_table(rows, threads)))
    for row in rows:
        if not row.served:
            print(
                f"WARNING {UnservedFlow(row.name, row.pollers.task_queue).warning}", file=sys.stderr
            )
    return 0


def row_json(row: FlowRow) -> dict[str, Any]:
    return {
        "name": row.name,
        "mode": row.mode.value,
        "threaded": row.threaded,
        "served": row.served,
        "description": row.description,
        **pollers_json(row.pollers),
    }


def pollers_json(pollers: QueuePollers) -> dict[str, Any]:
    return {
        "task_queue": pollers.task_queue,
        "workflow_pollers": pollers.workflow_pollers,
        "activity_pollers": pollers.activity_pollers,
    }


def flows_table(rows: list[FlowRow], threads: QueuePollers) -> list[str]:
    lines = [("FLOW", "TASK QUEUE", "MODE", "RUNS", "POLLERS (WF/ACT)")]
    for row in rows:
        runs = "threaded" if row.threaded else "alone"
        lines.append((row.name, row.pollers.task_queue, row.mode.value, runs, counts(row.pollers)))
    lines.append((THREADS, threads.task_queue, "-", "-", counts(threads)))
    widths = [max(len(visible(line[i])) for line in lines) for i in range(4)]
    return [
        "  ".join(visible(cell).ljust(width) for cell, width in zip(line, widths, strict=False))
        + "  "
        + line[4]
        for line in lines
    ]


def counts(pollers: QueuePollers) -> str:
    return f"{pollers.workflow_pollers}/{pollers.activity_pollers}"


def cmd_start(settings: Settings, args: argparse.Namespace) -> int:
    spec = registered(args.flow)
    if spec.input is NoInput:
        raise CliError(f"{spec.name} cannot be started without mail")
    values = input_values(args)
    try:
        flow_input = validated_input(spec.name, spec.input, values)
    except InputRefused as exc:
        raise CliError(str(exc)) from None
    operator = operator_name(settings, args.by)
    if spec.threaded:
        print(run_async(lambda: start_thread(bootstrap(settings), spec, flow_input, operator)))
    else:
        print(run_async(lambda: start_alone(settings, spec, flow_input, operator)))
    return 0


def registered(name: str) -> FlowSpec:
    spec = flow_named(name, FLOWS)
    if spec is None:
        known = ", ".join(f.name for f in FLOWS)
        raise CliError(f"no flow {visible(name)!r} is registered (flows: {known})")
    return spec


def input_values(args: argparse.Namespace) -> dict[str, Any]:
    """--field NAME=VALUE pairs (a name given twice: a list), or --input's JSON object."""
    if args.input is not None:
        return json_input(args.input)
    values: dict[str, Any] = {}
    for pair in args.field:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise CliError(f"--field {visible(pair)!r}: expected NAME=VALUE")
        name = name.strip()
        if name in values:
            earlier = values[name]
            values[name] = [*earlier, value] if isinstance(earlier, list) else [earlier, value]
        else:
            values[name] = value
    return values


def json_input(path: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CliError(f"--input {visible(path)}: {exc}") from None
    if not isinstance(loaded, dict):
        raise CliError(f"--input {visible(path)}: expected a JSON object of fields")
    return loaded


async def start_thread(wiring: Wiring, spec: FlowSpec, flow_input: BaseModel, by: str) -> str:
    """Hand the thread its first message (signal-with-start), as ingest does for mail."""
    settings = wiring.settings
    requester = str(getattr(flow_input, "requester", ""))
    if requester and wiring.mailboxes.resolve(requester) is not None:
        # our answers to it would come back in as new mail
        raise CliError(f"requester: {visible(requester)} is one of mailroom's own mailboxes")
    key, message = started_thread(
        spec.name,
        flow_input,
        requester=requester,
        operator=by,
        mailbox=flow_mailbox(spec.name, spec.mailboxes, settings.mailboxes, settings.domains),
        now=datetime.now(UTC),
    )
    if wiring.threading.secret:
        address = reply_address(key.workflow_id, wiring.threading.secret)
        message = message.model_copy(update={"reply_address": address})
    threads = gateway(wiring, await connect(settings))
    try:
        earlier = await threads.get(key.workflow_id)
    except ThreadNotFound:
        earlier = None
    known = earlier is not None and message.message_id in earlier.message_ids
    if known and earlier is not None and earlier.status is ThreadStatus.COMPLETED:
        reference = ticket_reference(key.workflow_id)
        raise CliError(
            f"{spec.name} was started with this input before, and #{reference} is completed: "
            "change the input (a --field text=…) to start another"
        )
    await threads.new_message(key, message)
    await wiring.threading.index.record(key.mailbox, key.workflow_id, index_entry(key, message))
    what = "already started (the same flow, input and operator)" if known else "started"
    reference = ticket_reference(key.workflow_id)
    return f"{key.workflow_id}  [#{reference}]: {spec.name} {what} by {visible(by)}"


async def start_alone(settings: Settings, spec: FlowSpec, flow_input: BaseModel, by: str) -> str:
    """A flow that runs without a thread: its own workflow, idempotent by its id."""
    values = flow_input.model_dump(mode="json")
    workflow_id = f"{spec.name}-{start_hash(spec.name, values, by)}"
    client: Client = await connect(settings)
    try:
        await client.start_workflow(
            spec.entry().workflow_type,
            flow_input,
            id=workflow_id,
            task_queue=spec.queue_for(settings.queue_prefix),
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        return f"{workflow_id}: {spec.name} already started (the same input and operator)"
    return f"{workflow_id}: {spec.name} started by {visible(by)}"
