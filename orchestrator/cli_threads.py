"""`mailroom` commands about threads: list, show, complete, approve/reject, POs, outbox.
Threads are named by id, unique prefix or ticket reference (orchestrator/thread_ids.py)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Protocol

from orchestrator.bootstrap import bootstrap, connect, gateway
from orchestrator.cli_errors import CliError
from orchestrator.cli_output import visible
from orchestrator.flow_spec import plain_facts
from orchestrator.flows import FLOWS, flow_named
from orchestrator.operator import operator_name
from orchestrator.po_table import po_table
from orchestrator.runner import run_async
from orchestrator.sent_mail import sent_mail, where_from
from orchestrator.settings import Settings
from orchestrator.thread_ids import ThreadIds, resolve_thread
from orchestrator.thread_table import ThreadFilter, ThreadView, listed, stage_hint, table
from use_cases.flows import ApprovalDecision
from use_cases.models import CompleteRequest, ThreadState, ThreadStatus
from use_cases.ports import ThreadGateway, ThreadNotFound
from use_cases.tickets import ticket_reference

THREAD_HELP = (
    "a thread id, a unique prefix of it or of its hash part with 4+ hash characters, "
    "or its reference (#K7Q2MX)"
)
BY_HELP = "the operator acting (default: MAILROOM_OPERATOR)"


def add_threads_options(threads: argparse.ArgumentParser) -> None:
    threads.add_argument("--json", action="store_true")
    which = threads.add_mutually_exclusive_group()
    which.add_argument("--status", choices=[s.value for s in ThreadStatus])
    which.add_argument("--open", action="store_true", help="only open threads (--status open)")
    threads.add_argument("--stage", help="only threads at this stage")
    threads.add_argument("--flow", help="only threads of this flow")
    threads.add_argument("--mailbox", help="only threads of this mailbox")
    threads.add_argument(
        "--search",
        metavar="TEXT",
        help="only threads with TEXT (any case) in their subject, requester, people, "
        "reference or id",
    )


def cmd_threads(settings: Settings, args: argparse.Namespace) -> int:
    if args.flow and flow_named(args.flow) is None and args.flow != "other":
        known = ", ".join([*(f.name for f in FLOWS if f.threaded), "other"])
        raise CliError(f"--flow: no flow {visible(args.flow)!r} (flows: {known})")
    keep = ThreadFilter(
        status=wanted_status(args),
        stage=args.stage,
        flow=args.flow,
        mailbox=args.mailbox,
        search=args.search or "",
    )

    async def go() -> list[ThreadView]:
        gateway = await connected_gateway(settings)
        return [ThreadView.of(s) for s in await gateway.list(keep.status)]

    every = run_async(go)
    views = listed(every, keep)
    if not views and keep.stage and stage_hint(keep.stage, every):
        print(stage_hint(keep.stage, every), file=sys.stderr)
    if args.json:
        print(json.dumps([v.public() for v in views], indent=2))
        return 0
    if views:
        print("\n".join(table(views)))
    print(counted(len(views), "thread"), file=sys.stderr)
    return 0


def wanted_status(args: argparse.Namespace) -> ThreadStatus | None:
    if args.open:
        return ThreadStatus.OPEN
    return ThreadStatus(args.status) if args.status else None


def cmd_thread(settings: Settings, args: argparse.Namespace) -> int:
    async def go() -> ThreadState:
        gateway = await connected_gateway(settings)
        return await gateway.get(await resolve_thread(gateway, args.thread_id))

    state = run_async(go)
    view = ThreadView.of(state)
    if args.json:
        shown = view.public()
        shown["pending_approval"] = state.pending_approval
        shown["facts"] = state.facts
        shown["completed_reason"] = state.completed_reason
        shown["history"] = [c.model_dump(mode="json") for c in state.history]
        shown["messages"] = [m.model_dump(mode="json") for m in state.messages]
        shown["refused_decisions"] = [r.model_dump(mode="json") for r in state.refused_decisions]
        print(json.dumps(shown, indent=2))
        return 0
    print("\n".join(thread_lines(state, view)))
    return 0


def shown_facts(state: ThreadState) -> list[tuple[str, str]]:
    """The flow's facts as its FlowSpec shows them (a flow no longer registered: as they are)."""
    spec = flow_named(state.flow or "")
    return (spec.facts if spec else plain_facts)(state.facts)


def fact_texts(state: ThreadState) -> list[str]:
    return [" ".join(filter(None, (visible(n), visible(v)))) for n, v in shown_facts(state)]


def thread_lines(state: ThreadState, view: ThreadView) -> list[str]:
    when = f"{view.last_activity:%Y-%m-%d %H:%M:%S}" if view.last_activity else "-"
    flow = (
        f"{visible(state.flow or '-')} / {visible(state.stage or '-')}"
        f"{'  (waiting for approval)' if state.pending_approval else ''}"
        f"{''.join(f'  {fact}' for fact in fact_texts(state))}"
    )
    fields = {
        "thread": f"{visible(state.thread_id)}  [#{visible(view.reference)}]",
        "status": state.status.value,
        "mailbox": visible(state.mailbox),
        "subject": visible(state.subject),
        "requester": visible(view.requester or "-"),
        "people": visible(", ".join(state.participants)),
        "flow": flow,
        "activity": when,
    }
    if state.completed_reason:
        fields["closed"] = visible(state.completed_reason)
    if view.human_replies:
        fields["replies"] = f"{view.human_replies} by people"
    lines = [f"{label:<10} {value}".rstrip() for label, value in fields.items()]
    for change in state.history:
        note = f"  {visible(change.note)}" if change.note else ""
        lines.append(f"  {change.at:%Y-%m-%d %H:%M:%S}  stage {visible(change.stage)}{note}")
    for message in state.messages:
        lines.append(
            f"  {message.received_at:%Y-%m-%d %H:%M}  {visible(message.from_addr)}  "
            f"{visible(message.message_id)}"
            f"  [{message.thread_rule}]{'  (automatic)' if message.automatic else ''}"
        )
    for refused in state.refused_decisions:
        verb = "approve" if refused.approved else "reject"
        lines.append(
            f"  {refused.at:%Y-%m-%d %H:%M}  refused emailed {verb} from "
            f"{visible(refused.from_addr)}  {visible(refused.message_id)}: {visible(refused.why)}"
        )
    return lines


def cmd_complete(settings: Settings, args: argparse.Namespace) -> int:
    request = CompleteRequest(reason=args.reason, requested_by=operator_name(settings, args.by))

    async def go() -> str:
        gateway = await connected_gateway(settings)
        state = await gateway.get(await resolve_thread(gateway, args.thread_id))
        refuse_completed(state, "")
        try:
            await gateway.complete(state.thread_id, request)
        except ThreadNotFound:  # it completed between the look and the signal
            refuse_completed(await gateway.get(state.thread_id), "")
            raise
        return ThreadView.of(state).reference

    reference = run_async(go)
    print(
        f"#{visible(reference)}: completion requested by {visible(request.requested_by)}"
        f"{because(request.reason)}"
    )
    return 0


def refuse_completed(state: ThreadState, consequence: str) -> None:
    """CliError (exit 2) for a thread that is no longer open: "#K7Q2MX is already completed
    (resolved)", with what that means for the command."""
    if state.status is not ThreadStatus.COMPLETED:
        return
    reference = ThreadView.of(state).reference
    why = because(state.completed_reason or "")
    raise CliError(f"#{visible(reference)} is already completed{why}{consequence}")


def cmd_decide(approved: bool) -> Callable[[Settings, argparse.Namespace], int]:
    def decide(settings: Settings, args: argparse.Namespace) -> int:
        decision = ApprovalDecision(
            approved=approved, by=operator_name(settings, args.by), reason=args.reason or ""
        )

        async def go() -> str:
            gateway = await connected_gateway(settings)
            thread_id = await resolve_thread(gateway, args.thread_id)
            await gateway.decide(thread_id, decision)
            return thread_id

        thread_id = run_async(go)
        verb = "approval" if approved else "rejection"
        print(
            f"#{ticket_reference(thread_id)}: {verb} by {visible(decision.by)} sent"
            f"{because(decision.reason)}"
        )
        return 0

    return decide


def cmd_pos(settings: Settings, args: argparse.Namespace) -> int:
    ledger = bootstrap(settings).ledger
    orders, currencies = ledger.purchase_orders(), ledger.currencies()
    if args.json:
        shown = [
            {**o.model_dump(mode="json"), "currency": currencies.get(o.po_key)} for o in orders
        ]
        print(json.dumps(shown, indent=2))
        return 0
    if orders:
        print("\n".join(po_table(orders, currencies)))
    print(counted(len(orders), "purchase order"), file=sys.stderr)
    return 0


def cmd_outbox(settings: Settings, args: argparse.Namespace) -> int:
    wiring = bootstrap(settings)
    relayed = wiring.sent_log.entries() if wiring.sent_log else []
    mail = sent_mail(wiring.outbox.entries(), relayed)
    if args.json:
        print(json.dumps([m.public() for m in mail], indent=2))
        return 0
    for entry in (m.entry for m in mail):
        print(
            f"{entry.sent_at:%Y-%m-%d %H:%M:%S}  to {visible(', '.join(entry.to))}  "
            f"{visible(entry.subject)}"
        )
    print(where_from(mail, wiring.outbox.root), file=sys.stderr)
    return 0


class NamedThreads(ThreadGateway, ThreadIds, Protocol):
    """What these commands ask of the gateway: threads, and their ids to match names to."""


async def connected_gateway(settings: Settings) -> NamedThreads:
    client = await connect(settings)
    return gateway(bootstrap(settings), client)


def because(reason: str) -> str:
    return f" ({visible(reason)})" if reason else ""


def counted(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")
