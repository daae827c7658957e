"""The `mailroom` command line. Errors go to stderr with exit code 2, never a traceback."""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from temporalio.service import RPCError

from adapters.outbound.key_ring import KeyRingError
from orchestrator import bootstrap as wiring_module
from orchestrator.cli_codec import add_codec_parser, cmd_codec_server
from orchestrator.cli_coordinator import add_coordinator_parser, cmd_coordinator
from orchestrator.cli_database import add_database_parser, cmd_database
from orchestrator.cli_doctor import add_doctor_parser, cmd_doctor
from orchestrator.cli_erase import add_erase_parser, cmd_erase
from orchestrator.cli_errors import EXIT_ERROR, CliError
from orchestrator.cli_flows import add_flow_parsers, cmd_flows, cmd_start
from orchestrator.cli_keys import add_keys_parser, cmd_keys
from orchestrator.cli_mail import cmd_replay, cmd_reprocess, cmd_send
from orchestrator.cli_output import visible
from orchestrator.cli_purge import add_purge_parser, cmd_purge
from orchestrator.cli_reply import add_reply_parser, cmd_reply
from orchestrator.cli_schedule import add_schedule_parser, cmd_schedule
from orchestrator.cli_status import add_status_parser, cmd_status
from orchestrator.cli_stop import add_stop_parser, cmd_stop
from orchestrator.cli_threads import (
    BY_HELP,
    THREAD_HELP,
    add_threads_options,
    cmd_complete,
    cmd_decide,
    cmd_outbox,
    cmd_pos,
    cmd_thread,
    cmd_threads,
)
from orchestrator.flow_workers import flows_named
from orchestrator.instance import (
    Instance,
    instance_path,
    running_instance,
    settings_for_instance,
)
from orchestrator.logs import configure_logging
from orchestrator.process_child import ChildLink, add_child_options
from orchestrator.process_group import GroupGaveUp
from orchestrator.process_roles import (
    add_process_option,
    process_group,
    requested_processes,
    supervise,
)
from orchestrator.replay import REPLAY_LANES
from orchestrator.runner import run_async
from orchestrator.send import SendFailed
from orchestrator.services import check_imap, run_parts
from orchestrator.settings import (
    Settings,
    SettingsError,
    load_settings,
    masked,
    masked_flow_settings,
)
from orchestrator.settings_checks import MASK, secret_values
from orchestrator.startup_checks import check_blob_dir, check_data_dir, check_listen_address
from orchestrator.temporal_server import ServerError
from orchestrator.tracing import configure_tracing, flush_tracing
from use_cases.ports import HandoffFailed, NothingToDecide, ThreadNotFound

PRIVATE_UMASK = 0o077
# What a command whose reader went away (`mailroom threads | head -3`) exits with: the
# shell's code for a process ended by SIGPIPE, quietly, as `git log | head` does.
EXIT_BROKEN_PIPE = 141
# What a supervising `mailroom` exits with when a child process crash-loops: not 2, which
# says the command line or the settings are wrong.
EXIT_CRASH_LOOP = 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mailroom", description="Email threads as durable Temporal workflows."
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="say on stderr which running instance this command talks to, and print the "
        "whole traceback of an unexpected error",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    up = commands.add_parser("up", help="run everything: embedded Temporal server, worker, SMTP")
    add_process_option(up, "--workers", "worker")
    add_process_option(up, "--smtp-processes", "SMTP adapter")
    commands.add_parser("server", help="run only the embedded Temporal server")
    worker = commands.add_parser("worker", help="run only a worker (connects to Temporal)")
    worker.add_argument("--flows", metavar="A,B", help="the flows it serves (default: all)")
    add_process_option(worker, "--processes", "worker")
    add_child_options(worker, listens=False)
    smtp = commands.add_parser("smtp", help="run only the SMTP inbound adapter")
    add_process_option(smtp, "--processes", "SMTP adapter")
    add_child_options(smtp, listens=True)
    imap = commands.add_parser("imap", help="run only the IMAP inbound adapter")
    imap.add_argument(
        "--check", action="store_true", help="log in to every IMAP source and report, then exit"
    )
    config = commands.add_parser("config", help="print the effective settings, secrets masked")
    config.add_argument("--json", action="store_true")
    send = commands.add_parser("send", help="send .eml files over SMTP to the adapter")
    send.add_argument("files", nargs="+", type=Path, metavar="FILE.eml")
    send.add_argument("--to", action="append", default=[], help="recipient (repeatable)")
    send.add_argument("--from", dest="sender", help="envelope sender (default: From header)")
    send.add_argument("--server", help="host:port (default: MAILROOM_SMTP_HOST:PORT)")
    replay_cmd = commands.add_parser("replay", help="ingest .eml files, directories or mbox files")
    replay_cmd.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    replay_cmd.add_argument("--mailbox", help="deliver every message to this mailbox")
    replay_cmd.add_argument(
        "--lanes",
        type=positive_int,
        default=REPLAY_LANES,
        help=f"concurrent hand-offs, each conversation kept in order (default {REPLAY_LANES})",
    )
    reprocess_cmd = commands.add_parser(
        "reprocess", help="ingest a kept raw message again (from the blob store) by Message-ID"
    )
    reprocess_cmd.add_argument("message_id", metavar="MESSAGE_ID")
    reprocess_cmd.add_argument("--mailbox", help="deliver to this mailbox (default: To/Cc)")
    add_threads_options(
        commands.add_parser("threads", help="list threads, most recently active first")
    )
    thread = commands.add_parser("thread", help="show one thread")
    thread.add_argument("thread_id", metavar="THREAD", help=THREAD_HELP)
    thread.add_argument("--json", action="store_true")
    complete = commands.add_parser("complete", help="complete a thread (COMPLETE_THREAD)")
    complete.add_argument("thread_id", metavar="THREAD", help=THREAD_HELP)
    complete.add_argument("--reason", default="completed by operator")
    complete.add_argument("--by", metavar="NAME", help=BY_HELP)
    for verb, meaning in (("approve", "approve"), ("reject", "reject")):
        decide = commands.add_parser(verb, help=f"{meaning} the purchase a thread waits for")
        decide.add_argument("thread_id", metavar="THREAD", help=THREAD_HELP)
        decide.add_argument("--reason", default="", help="why, shown in the thread's stages")
        decide.add_argument("--by", metavar="NAME", help=BY_HELP)
    add_reply_parser(commands)
    add_schedule_parser(commands)
    add_purge_parser(commands)
    add_erase_parser(commands)
    pos = commands.add_parser("pos", help="list purchase orders (the ledger)")
    pos.add_argument("--json", action="store_true")
    outbox = commands.add_parser("outbox", help="list the mail mailroom sent (outbox and relay)")
    outbox.add_argument("--json", action="store_true")
    add_flow_parsers(commands)
    add_doctor_parser(commands)
    add_status_parser(commands)
    add_database_parser(commands)
    add_stop_parser(commands)
    add_coordinator_parser(commands)
    add_codec_parser(commands)
    add_keys_parser(commands)
    return parser


def positive_int(text: str) -> int:
    """argparse type: a whole number above zero (argparse exits 2 with the message)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number above zero")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    # Everything this process and the server it starts create (the data directory, mail,
    # temporal.db with every reply token) is private to the operator: dirs 0700, files 0600.
    os.umask(PRIVATE_UMASK)
    args = build_parser().parse_args(argv)
    settings: Settings | None = None
    try:
        settings = load_settings()
        configure_logging(settings.log_level)
        configure_tracing()
        if args.command not in SERVING:
            settings = with_running_instance(
                settings, verbose=args.verbose, smtp_client=args.command not in PARTS
            )
        return COMMANDS[args.command](settings, args)
    except (
        SettingsError,
        CliError,
        ServerError,
        wiring_module.TemporalUnreachable,
        HandoffFailed,
        ThreadNotFound,
        NothingToDecide,
        SendFailed,
    ) as exc:
        return failed(str(exc), settings)
    except RPCError as exc:
        return failed(
            f"Temporal answered {exc.status.name}: {exc.message} "
            "(is a worker running? `mailroom up` runs one)",
            settings,
        )
    except KeyRingError as exc:  # what Temporal keeps was sealed with a key not in the ring
        return failed(
            f"cannot decrypt what Temporal keeps: {exc} "
            "(MAILROOM_ENCRYPTION_KEYS must hold every key that sealed it)",
            settings,
        )
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return stdout_closed()
    except Exception as exc:  # the top level: one line, the whole traceback with -v
        if args.verbose:
            print(redacted(traceback.format_exc(), settings), file=sys.stderr, end="")
        hint = "" if args.verbose else " (`mailroom -v COMMAND` prints the traceback)"
        return failed(f"unexpected {type(exc).__name__}: {exc}{hint}", settings)


def stdout_closed() -> int:
    """The reader of stdout went away: nothing more to say, and no error line either. What
    is still buffered goes to /dev/null, so the exit's flush cannot fail a second time."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return EXIT_BROKEN_PIPE


def failed(message: str, settings: Settings | None) -> int:
    """Print `message` as the one line of a failure: whitespace runs joined, control
    characters escaped, no secret of the settings, and return the exit code."""
    line = visible(redacted(" ".join(message.split()), settings))
    print(f"mailroom: {line}", file=sys.stderr)
    return EXIT_ERROR


def redacted(text: str, settings: Settings | None) -> str:
    for secret in secret_values(settings) if settings is not None else []:
        text = text.replace(secret, MASK)
    return text


def with_running_instance(settings: Settings, *, verbose: bool, smtp_client: bool) -> Settings:
    """The settings, pointed at the instance recorded in the data directory if one runs
    (its SMTP address only for commands that send to it, not for a part that serves SMTP)."""
    instance = running_instance(settings)
    if instance is not None:
        settings = settings_for_instance(settings, instance, smtp=smtp_client)
    if verbose:
        print(f"mailroom: {where(settings, instance)}", file=sys.stderr)
    return settings


def where(settings: Settings, instance: Instance | None) -> str:
    if instance is None:
        return (
            f"no running instance recorded in {instance_path(settings)}; "
            f"Temporal {settings.temporal_target} namespace {settings.temporal_namespace}, "
            f"SMTP {settings.smtp_host}:{settings.smtp_port} from the settings"
        )
    return f"instance recorded in {instance_path(settings)}: {instance.describe()}"


def cmd_parts(parts: set[str]) -> Callable[[Settings, argparse.Namespace], int]:
    def run(settings: Settings, args: argparse.Namespace) -> int:
        flows = flows_named(getattr(args, "flows", None))  # a typo fails before anything starts
        counts = requested_processes(args)
        link = ChildLink.from_args(args)  # started by a process group: its sockets, its pipe
        if args.command in SERVING:
            refuse_a_second_instance(settings)
        if "server" in parts and not settings.embedded_temporal:
            parts.discard("server")
            if args.command == "server":
                raise CliError(
                    "MAILROOM_TEMPORAL_ADDRESS is set: there is no embedded server to run"
                )
        if args.command == "up" and settings.imap_sources:
            parts.add("imap")
        check_data_dir(settings.data_dir)
        check_blob_dir(settings.blob_dir)
        if "smtp" in parts and link is None:
            check_listen_address(settings.smtp_host, settings.smtp_port, setting="MAILROOM_SMTP")
        group = process_group(settings, counts, getattr(args, "flows", None), parts)
        own = parts - set(counts)  # the parts this process runs itself
        record = args.command in SERVING
        try:
            if group is not None and not own and not record:  # it only supervises
                run_async(lambda: supervise(group))
                return 0
            wiring = wiring_module.bootstrap(settings)
            run_async(
                lambda: run_parts(wiring, own, record=record, flows=flows, link=link, group=group)
            )
        except GroupGaveUp as exc:
            failed(str(exc), settings)
            return EXIT_CRASH_LOOP
        return 0

    return run


def refuse_a_second_instance(settings: Settings) -> None:
    """Two embedded servers on one data directory would share one SQLite database."""
    other = running_instance(settings)
    if other is not None and other.pid != os.getpid():
        raise CliError(
            f"mailroom already runs from {settings.data_dir} ({other.describe()}): "
            "stop it first, or set MAILROOM_DATA_DIR to another directory"
        )


def cmd_imap(settings: Settings, args: argparse.Namespace) -> int:
    if not settings.imap_sources:
        raise CliError("MAILROOM_IMAP_SOURCES is empty: there is no IMAP mailbox to read")
    if not args.check:
        return cmd_parts({"imap"})(settings, args)
    wiring = wiring_module.bootstrap(settings)
    reports = run_async(lambda: check_imap(wiring))
    for report in reports:
        print("\n".join(visible(line) for line in report.lines()))  # folder names too
    return 0 if all(report.ok for report in reports) else EXIT_ERROR


def cmd_config(settings: Settings, args: argparse.Namespace) -> int:
    shown = {**masked(settings), **masked_flow_settings()}
    instance = running_instance(settings)
    if args.json:
        recorded = instance.model_dump(mode="json") if instance else None
        print(json.dumps({**shown, "instance": recorded}, indent=2))
    else:
        for name, value in shown.items():
            print(f"{name}={visible(value)}")
        print(f"instance={visible(where(settings, instance))}")
    return 0


# Commands that serve and record where (orchestrator/instance.py); the rest read the record.
SERVING = {"up", "server"}
PARTS = {"worker", "smtp", "imap"}

COMMANDS: dict[str, Callable[[Settings, argparse.Namespace], int]] = {
    "up": cmd_parts({"server", "worker", "smtp"}),
    "server": cmd_parts({"server"}),
    "worker": cmd_parts({"worker"}),
    "smtp": cmd_parts({"smtp"}),
    "imap": cmd_imap,
    "config": cmd_config,
    "send": cmd_send,
    "replay": cmd_replay,
    "reprocess": cmd_reprocess,
    "threads": cmd_threads,
    "approve": cmd_decide(approved=True),
    "reject": cmd_decide(approved=False),
    "reply": cmd_reply,
    "pos": cmd_pos,
    "thread": cmd_thread,
    "complete": cmd_complete,
    "outbox": cmd_outbox,
    "flows": cmd_flows,
    "doctor": cmd_doctor,
    "status": cmd_status,
    "database": cmd_database,
    "start": cmd_start,
    "stop": cmd_stop,
    "coordinator": cmd_coordinator,
    "schedule": cmd_schedule,
    "codec-server": cmd_codec_server,
    "purge": cmd_purge,
    "erase": cmd_erase,
    "keys": cmd_keys,
}


def entry() -> None:
    """Console-script entry. Exits with os._exit once output is flushed: the Temporal
    client's Rust threads can abort CPython's finalisation ("PyGILState_Release: thread
    state must be current", temporalio/sdk-python#300), turning success into SIGABRT."""
    code = main()
    flush_tracing()  # os._exit below skips the SDK's atexit flush
    try:
        sys.stdout.flush()
    except BrokenPipeError:  # the reader left before the last buffered lines
        code = stdout_closed()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    entry()
