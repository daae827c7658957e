"""`mailroom` commands about threads: list, show, complete, approve/reject, POs, outbox."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict

from orchestrator.bootstrap import bootstrap, connect, gateway
from orchestrator.cli_output import visible
from orchestrator.runner import run_async
from orchestrator.settings import Settings
from use_cases.flows import ApprovalDecision
from use_cases.models import CompleteRequest, ThreadState, ThreadStatus


class ThreadView(BaseModel):
    """The public JSON shape of a thread (`mailroom thread ID --json`)."""

    model_config = ConfigDict(frozen=True)

    thread_id: str
    workflow_id: str
    mailbox: str
    status: ThreadStatus
    subject: str
    message_ids: list[str]
    participants: list[str]
    flow: str | None
    stage: str | None
    message_count: int = 0

    @classmethod
    def of(cls, state: ThreadState) -> ThreadView:
        """The view's fields, read from the thread's state (every one is a state field)."""
        return cls.model_validate(state.model_dump(include=set(cls.model_fields)))


def cmd_threads(settings: Settings, args: argparse.Namespace) -> int:
    status = ThreadStatus(args.status) if args.status else None

    async def go() -> list[ThreadView]:
        gateway = await connected_gateway(settings)
        return [ThreadView.of(s) for s in await gateway.list(status)]

    views = run_async(go)
    if args.json:
        print(json.dumps([v.model_dump(mode="json") for v in views], indent=2))
        return 0
    for view in views:
        print(
            f"{visible(view.thread_id)}  {view.status.value:<9} {view.message_count:>4} msgs  "
            f"{visible(view.subject[:60])}"
        )
    print(counted(len(views), "thread"), file=sys.stderr)
    return 0


def cmd_thread(settings: Settings, args: argparse.Namespace) -> int:
    async def go() -> Any:
        gateway = await connected_gateway(settings)
        return await gateway.get(args.thread_id)

    state = run_async(go)
    if args.json:
        view = ThreadView.of(state).model_dump(mode="json")
        view["pending_approval"] = state.pending_approval
        view["po_number"] = state.po_number
        view["history"] = [c.model_dump(mode="json") for c in state.history]
        view["messages"] = [m.model_dump(mode="json") for m in state.messages]
        view["refused_decisions"] = [r.model_dump(mode="json") for r in state.refused_decisions]
        print(json.dumps(view, indent=2))
        return 0
    print(
        f"thread   {visible(state.thread_id)}\nstatus   {state.status.value}\n"
        f"mailbox  {visible(state.mailbox)}\nsubject  {visible(state.subject)}\n"
        f"people   {visible(', '.join(state.participants))}\n"
        f"flow     {visible(state.flow or '-')} / {visible(state.stage or '-')}"
        f"{'  (waiting for approval)' if state.pending_approval else ''}"
        f"{'  PO ' + visible(state.po_number) if state.po_number else ''}"
    )
    for change in state.history:
        print(
            f"  {change.at:%Y-%m-%d %H:%M:%S}  stage {visible(change.stage)}  "
            f"{visible(change.note)}"
        )
    for message in state.messages:
        print(
            f"  {message.received_at:%Y-%m-%d %H:%M}  {visible(message.from_addr)}  "
            f"{visible(message.message_id)}"
            f"  [{message.thread_rule}]{'  (automatic)' if message.automatic else ''}"
        )
    for refused in state.refused_decisions:
        verb = "approve" if refused.approved else "reject"
        print(
            f"  {refused.at:%Y-%m-%d %H:%M}  refused emailed {verb} from "
            f"{visible(refused.from_addr)}  {visible(refused.message_id)}: {visible(refused.why)}"
        )
    return 0


def cmd_complete(settings: Settings, args: argparse.Namespace) -> int:
    async def go() -> None:
        gateway = await connected_gateway(settings)
        await gateway.complete(args.thread_id, CompleteRequest(reason=args.reason))

    run_async(go)
    print(f"{visible(args.thread_id)}: completion requested")
    return 0


def cmd_decide(approved: bool) -> Callable[[Settings, argparse.Namespace], int]:
    def decide(settings: Settings, args: argparse.Namespace) -> int:
        decision = ApprovalDecision(
            approved=approved, by=f"cli:{getpass.getuser()}", reason=args.reason or ""
        )

        async def go() -> None:
            gateway = await connected_gateway(settings)
            await gateway.decide(args.thread_id, decision)

        run_async(go)
        print(f"{visible(args.thread_id)}: {'approval' if approved else 'rejection'} sent")
        return 0

    return decide


def cmd_pos(settings: Settings, args: argparse.Namespace) -> int:
    orders = bootstrap(settings).ledger.purchase_orders()
    if args.json:
        print(json.dumps([o.model_dump(mode="json") for o in orders], indent=2))
        return 0
    for order in orders:
        items = ", ".join(f"{i.quantity} x {i.description}" for i in order.items)
        print(
            f"{visible(order.po_number)}  {order.created_at:%Y-%m-%d}  {visible(order.requester)}"
            f"  {order.total if order.total is not None else '-'}  {visible(items)}"
        )
    print(counted(len(orders), "purchase order"), file=sys.stderr)
    return 0


def cmd_outbox(settings: Settings, args: argparse.Namespace) -> int:
    entries = bootstrap(settings).outbox.entries()
    if args.json:
        print(json.dumps([e.model_dump(mode="json") for e in entries], indent=2))
        return 0
    for entry in entries:
        print(
            f"{entry.sent_at:%Y-%m-%d %H:%M:%S}  to {visible(', '.join(entry.to))}  "
            f"{visible(entry.subject)}"
        )
    print(f"{counted(len(entries), 'mail')} in {settings.data_dir / 'outbox'}", file=sys.stderr)
    return 0


async def connected_gateway(settings: Settings) -> Any:
    client = await connect(settings)
    return gateway(bootstrap(settings), client)


def counted(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")
