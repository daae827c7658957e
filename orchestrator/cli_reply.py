"""`mailroom reply THREAD`: a person's answer to the thread's customer, sent once.

The reply's Message-ID is fixed here, before the thread is signalled, from the thread, the
text, who answers and the thread's latest mail: the same command run again (after a
timeout, say) is the same reply, which the thread sends once; the same words in answer to
a newer mail are a new reply.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from orchestrator.cli_errors import CliError
from orchestrator.cli_output import visible
from orchestrator.cli_threads import BY_HELP, THREAD_HELP, connected_gateway, refuse_completed
from orchestrator.operator import operator_name
from orchestrator.runner import run_async
from orchestrator.settings import Settings
from orchestrator.thread_ids import resolve_thread
from orchestrator.thread_table import ThreadView
from use_cases.human_replies import human_reply_id, thread_customer
from use_cases.models import HumanReply, ThreadState
from use_cases.ports import ThreadNotFound

NOT_SENT = ": a reply to a completed thread is not sent (a new mail from the customer reopens it)"
MAX_REPLY_CHARS = 32_000  # what a signal carries of a mail's text (MAX_SIGNAL_TEXT_CHARS)


def add_reply_parser(commands: Any) -> None:
    reply = commands.add_parser(
        "reply", help="answer a thread's customer by mail (threaded, sent once)"
    )
    reply.add_argument("thread_id", metavar="THREAD", help=THREAD_HELP)
    body = reply.add_mutually_exclusive_group(required=True)
    body.add_argument("--body", help="the answer's text")
    body.add_argument("--file", type=Path, help="read the answer from this file ('-': stdin)")
    reply.add_argument(
        "--close", action="store_true", help="complete the thread once the answer went out"
    )
    reply.add_argument("--by", metavar="NAME", help=BY_HELP)


def cmd_reply(settings: Settings, args: argparse.Namespace) -> int:
    text = _text(args)
    by = operator_name(settings, args.by)

    async def go() -> tuple[ThreadState, HumanReply]:
        gateway = await connected_gateway(settings)
        # the whole id, not the name typed: the Message-ID must not depend on how the
        # thread was named, or the same answer run again by its reference would send twice
        thread_id = await resolve_thread(gateway, args.thread_id)
        # what the reply answers: the same words to a newer mail are a new reply
        state = await gateway.get(thread_id)
        refuse_completed(state, NOT_SENT)
        latest = state.message_ids[-1] if state.message_ids else ""
        reply_id = human_reply_id(thread_id, text, by, after=latest)
        reply = HumanReply(text=text, by=by, close=args.close, message_id=reply_id)
        try:
            await gateway.reply(thread_id, reply)
        except ThreadNotFound:  # it completed between the look and the signal
            refuse_completed(await gateway.get(thread_id), NOT_SENT)
            raise
        return state, reply

    state, reply = run_async(go)
    print(handed_over(state, reply, verbose=getattr(args, "verbose", False)))
    return 0


def handed_over(state: ThreadState, reply: HumanReply, *, verbose: bool) -> str:
    """ "#K7Q2MX: reply handed over for erin@example.com (sent once)": the reference and
    where the answer goes; its Message-ID only with -v."""
    reference = f"#{visible(ThreadView.of(state).reference)}"
    message_id = f", Message-ID {visible(reply.message_id)}" if verbose else ""
    closing = "; the thread completes once it went out" if reply.close else ""
    to = thread_customer(state)
    if not to:
        return (
            f"{reference}: reply not sent: the thread has no address to answer (its first "
            f"mail came from a no-reply, list or empty sender){message_id}"
        )
    return f"{reference}: reply handed over for {visible(to)} (sent once{message_id}){closing}"


def _text(args: argparse.Namespace) -> str:
    if args.body is not None:
        text = str(args.body)
    elif str(args.file) == "-":
        text = sys.stdin.read()
    else:
        try:
            text = args.file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CliError(f"cannot read {args.file}: {exc}") from exc
    text = text.strip()
    if not text:
        raise CliError("the reply is empty")
    if len(text) > MAX_REPLY_CHARS:
        raise CliError(f"the reply is longer than {MAX_REPLY_CHARS} characters")
    return text + "\n"
