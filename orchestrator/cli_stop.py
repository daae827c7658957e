"""`mailroom stop ID`: stop a thread, a thread's flow, or a flow started alone.

A thread (or a flow running in one) is stopped cleanly: COMPLETE_THREAD, so the thread
tells its flow, which tells the requester that an operator closed it. A flow started alone
is cancelled. `--terminate` ends the workflow at once, and nobody is told anything.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any

from temporalio.client import Client, WorkflowExecutionDescription, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from orchestrator.bootstrap import bootstrap, connect, gateway
from orchestrator.cli_errors import CliError
from orchestrator.cli_output import visible
from orchestrator.cli_threads import BY_HELP, NamedThreads, because, refuse_completed
from orchestrator.operator import operator_name
from orchestrator.runner import run_async
from orchestrator.settings import Settings
from orchestrator.thread_ids import resolve_thread
from use_cases.flows import STOPPED
from use_cases.input_fields import one_line
from use_cases.models import CompleteRequest
from use_cases.ports import ThreadNotFound
from use_cases.threading import THREAD_HASH_CHARS
from use_cases.tickets import ticket_reference
from workflows.messages import COMPLETE_THREAD

# A thread's child flow: thread-<mailbox>-<hash>-<flow>-<n> (workflows/routing.py).
CHILD_ID = re.compile(rf"^(thread-.+-[0-9a-f]{{{THREAD_HASH_CHARS}}})-[\w.]+-\d+$")


def add_stop_parser(commands: Any) -> None:
    stop = commands.add_parser("stop", help="stop a thread or a flow (the requester is told)")
    stop.add_argument(
        "workflow_id",
        metavar="ID",
        help="a thread (id, unique prefix or #reference), a thread's flow "
        "(thread-…-procurement-1) or a flow started alone",
    )
    stop.add_argument("--reason", default="", help="why, told to the requester")
    stop.add_argument(
        "--terminate", action="store_true", help="end it at once: nobody is told, nothing cleans up"
    )
    stop.add_argument("--by", metavar="NAME", help=BY_HELP)


def cmd_stop(settings: Settings, args: argparse.Namespace) -> int:
    try:
        reason = one_line(args.reason)
    except ValueError as exc:
        raise CliError(f"--reason: {exc}") from None
    request = CompleteRequest(
        reason=f"{STOPPED}: {reason}" if reason else STOPPED,
        requested_by=operator_name(settings, args.by),
        tell_requester=True,
    )
    if args.terminate:
        print(
            "mailroom: --terminate: the workflow ends now; nobody is told (no mail to the "
            "requester, no flow clean-up)",
            file=sys.stderr,
        )
    for line in run_async(lambda: stop(settings, args.workflow_id, request, args.terminate)):
        print(line)
    return 0


async def stop(
    settings: Settings, name: str, request: CompleteRequest, terminate: bool
) -> list[str]:
    client = await connect(settings)
    threads = gateway(bootstrap(settings), client)
    described = await description(client, name.strip())
    if described is None:  # not a workflow id: a thread's prefix or reference
        thread_id = await resolve_thread(threads, name)
        return await stop_thread(client, threads, thread_id, request, terminate)
    parent = described.parent_id or _parent_by_id(described.id)
    if parent is not None and await threads.is_open(parent):
        lines = [
            f"{visible(described.id)} is a flow of thread {visible(parent)}: stopping the thread"
        ]
        return lines + await stop_thread(client, threads, parent, request, terminate)
    if parent is not None:  # its thread completed and left it running (ABANDON)
        return await stop_orphan(client, described, request, terminate)
    if described.workflow_type == "ThreadWorkflow":
        return await stop_thread(client, threads, described.id, request, terminate)
    return await stop_alone(client, described, request, terminate)


async def description(client: Client, workflow_id: str) -> WorkflowExecutionDescription | None:
    try:
        return await client.get_workflow_handle(workflow_id).describe()
    except RPCError as exc:
        if exc.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
            return None
        raise


def _parent_by_id(workflow_id: str) -> str | None:
    found = CHILD_ID.match(workflow_id)
    return found.group(1) if found else None


async def stop_thread(
    client: Client, threads: NamedThreads, thread_id: str, request: CompleteRequest, terminate: bool
) -> list[str]:
    state = await threads.get(thread_id)
    refuse_completed(state, "")
    reference = f"#{visible(ticket_reference(thread_id))}"
    if terminate:
        await client.get_workflow_handle(thread_id).terminate(reason=request.reason)
        lines = [f"{reference}: terminated by {visible(request.requested_by)}"]
        child = state.flow_workflow_id
        if state.flow_mode == "child" and child and not state.flow_finished:
            # a child flow outlives its thread (ABANDON): it would go on mailing
            await _terminate_quietly(client, child, request.reason)
            lines.append(f"{visible(child)}: its flow terminated too")
        return lines
    try:
        await threads.complete(thread_id, request)
    except ThreadNotFound:  # it completed between the look and the signal
        refuse_completed(await threads.get(thread_id), "")
        raise
    return [
        f"{reference}: stop requested by {visible(request.requested_by)}{because(request.reason)}"
    ]


async def stop_orphan(
    client: Client,
    described: WorkflowExecutionDescription,
    request: CompleteRequest,
    terminate: bool,
) -> list[str]:
    """A child flow whose thread has completed: told to stop (it tells its requester), or
    terminated."""
    handle = client.get_workflow_handle(described.id)
    status = described.status
    if status is not WorkflowExecutionStatus.RUNNING:
        ended = status.name.lower() if status else "closed"
        raise CliError(f"{visible(described.id)} is already {ended}")
    if terminate:
        await handle.terminate(reason=request.reason)
        return [f"{visible(described.id)}: terminated by {visible(request.requested_by)}"]
    await handle.signal(COMPLETE_THREAD, request)
    by = visible(request.requested_by)
    return [f"{visible(described.id)}: stop requested by {by}{because(request.reason)}"]


async def _terminate_quietly(client: Client, workflow_id: str, reason: str) -> None:
    try:
        await client.get_workflow_handle(workflow_id).terminate(reason=reason)
    except RPCError as exc:  # it finished meanwhile
        if exc.status is not RPCStatusCode.NOT_FOUND:
            raise


async def stop_alone(
    client: Client,
    described: WorkflowExecutionDescription,
    request: CompleteRequest,
    terminate: bool,
) -> list[str]:
    name = visible(described.id)
    if described.status != WorkflowExecutionStatus.RUNNING:
        status = described.status.name.lower() if described.status else "closed"
        raise CliError(f"{name} is already {status}")
    handle = client.get_workflow_handle(described.id)
    if terminate:
        await handle.terminate(reason=f"{request.reason} ({request.requested_by})")
        return [f"{name}: terminated by {visible(request.requested_by)}"]
    await handle.cancel()
    return [f"{name}: cancellation requested by {visible(request.requested_by)}"]
