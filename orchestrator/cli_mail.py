"""`mailroom` commands that hand mail in: send over SMTP, replay files, reprocess a kept one."""

from __future__ import annotations

import argparse
import sys
from contextlib import AsyncExitStack
from typing import Any

from adapters.outbound.blob_sealing import BlobUnreadable
from orchestrator import bootstrap as wiring_module
from orchestrator.cli_errors import EXIT_ERROR, CliError
from orchestrator.cli_output import visible
from orchestrator.replay import mailboxes_for, replay
from orchestrator.runner import run_async
from orchestrator.send import SendFailed, send_file
from orchestrator.services import start_backlog
from orchestrator.settings import Settings, parse_host_port
from use_cases.ingest import ingest_email
from use_cases.ports import BlobNotFound


def cmd_send(settings: Settings, args: argparse.Namespace) -> int:
    try:
        host, port = (
            parse_host_port(args.server)
            if args.server
            else (settings.smtp_host, settings.smtp_port)
        )
    except ValueError as exc:
        raise CliError(f"--server: {exc}") from None
    failures = 0
    for path in args.files:
        if not path.is_file():
            raise CliError(f"{path}: no such file")
        try:
            print(visible(send_file(path, host=host, port=port, to=args.to, sender=args.sender)))
        except SendFailed as exc:
            print(f"mailroom: {visible(exc)}", file=sys.stderr)
            failures += 1
    return EXIT_ERROR if failures else 0


def cmd_replay(settings: Settings, args: argparse.Namespace) -> int:
    for path in args.paths:
        if not path.exists():
            raise CliError(f"{path}: no such file or directory")
    wiring = wiring_module.bootstrap(settings)
    forced = None
    if args.mailbox:
        forced = wiring.mailboxes.resolve(args.mailbox)
        if forced is None:
            raise CliError(f"--mailbox {args.mailbox}: not one of our mailboxes")

    async def go() -> Any:
        client = await wiring_module.connect(settings)
        async with AsyncExitStack() as stack:
            stack.push_async_callback(wiring_module.close_stores, wiring)
            backlog = await start_backlog(wiring, client, stack)
            return await replay(
                args.paths,
                gateway=wiring_module.gateway(wiring, client, backlog),
                parse=wiring.parse,
                mailboxes=wiring.mailboxes,
                forced_mailbox=forced,
                blobs=wiring.blobs,
                threading=wiring.threading,
                lanes=args.lanes,
                backlog=backlog,
            )

    summary = run_async(go)
    for rejection in summary.rejected:
        print(f"rejected {visible(rejection)}", file=sys.stderr)
    for skipped in summary.skipped:  # can never be handed off: counted, the rest went on
        print(f"skipped {visible(skipped)}", file=sys.stderr)
    print(visible(summary.line()))
    return 0


def cmd_reprocess(settings: Settings, args: argparse.Namespace) -> int:
    wiring = wiring_module.bootstrap(settings)
    message_id = args.message_id if args.message_id.startswith("<") else f"<{args.message_id}>"

    async def go() -> Any:
        try:
            return await reprocess_one()
        finally:
            await wiring_module.close_stores(wiring)

    async def reprocess_one() -> Any:
        try:
            raw = await wiring.blobs.raw(message_id)
        except (BlobNotFound, BlobUnreadable) as exc:
            raise CliError(str(exc)) from None
        mailboxes = [wiring.mailboxes.resolve(args.mailbox)] if args.mailbox else None
        if mailboxes == [None]:
            raise CliError(f"--mailbox {args.mailbox}: not one of our mailboxes")
        email = wiring.parse(raw)
        targets = [m for m in mailboxes or [] if m] or mailboxes_for(email, wiring.mailboxes, None)
        if not targets:
            raise CliError(f"{message_id}: no recipient is one of our mailboxes (use --mailbox)")
        client = await wiring_module.connect(settings)
        return await ingest_email(
            raw,
            mailboxes=targets,
            gateway=wiring_module.gateway(wiring, client),
            parse=wiring.parse,
            blobs=wiring.blobs,
            threading=wiring.threading,
            authenticate=wiring.authenticate,
        )

    ingested = run_async(go)
    print(f"{visible(ingested.message_id)}: reprocessed into {', '.join(ingested.thread_ids)}")
    return 0
