"""What payload encryption (issue 22) costs per mail, CPU time in this process, encrypted
against plain in the same run:

    python -m bench.payload_codec [--mails 2000] [--rounds 5]

- `handoff`: what the SMTP adapter's signal-with-start encodes per mail (the thread's input,
  a 1.5 KB mail, the Web UI's summary and details), with mailroom's converter as it was
  and with the sealing one (orchestrator/bootstrap.py data_converter);
- `activation`: one workflow activation bringing that mail as a signal and its completion
  scheduling a local activity with it, through the worker's payload passes: skipped without
  a codec (orchestrator/payload_visits.py), the SDK's passes and the codec with one.

Each figure is the least of its rounds (µs per mail); not part of `make bench`."""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from temporalio.api.common.v1 import Payload
from temporalio.bridge.proto.workflow_activation import WorkflowActivation
from temporalio.bridge.proto.workflow_completion import WorkflowActivationCompletion
from temporalio.converter import DataConverter

from adapters.outbound.key_ring import new_key_entry, parse_key_ring
from bench.report import print_json
from orchestrator.bootstrap import sealing_converter
from orchestrator.data_converter import DATA_CONVERTER
from orchestrator.payload_visits import decode_activation, encode_completion
from use_cases.flows import FlowConfig
from use_cases.models import NewMessage, ThreadInput
from use_cases.thread_labels import thread_details, thread_summary

MAIL = NewMessage(
    mailbox="support@mailroom.local",
    message_id="<m1@example.com>",
    from_addr="alice@example.com",
    subject="Where is my order?",
    received_at=datetime(2026, 12, 5, tzinfo=UTC),
    text="Where is my order? I ordered it two weeks ago.\n" * 32,  # ~1.5 KB
)
START = ThreadInput(thread_id="thread-1", mailbox=MAIL.mailbox, flow_config=FlowConfig())
LABELS = [thread_summary(MAIL.subject, MAIL.from_addr), thread_details(MAIL.mailbox, "t", "m")]


def handoff(converter: DataConverter) -> Callable[[], Awaitable[object]]:
    async def once() -> object:
        return await converter.encode([START, MAIL, *LABELS])

    return once


def activation(converter: DataConverter) -> Callable[[], Awaitable[object]]:
    incoming: list[Payload] = []  # the signal as the server hands it over (made once)

    async def once() -> object:
        if not incoming:
            incoming.extend(await converter.encode([MAIL]))
        act = WorkflowActivation(run_id="run")
        job = act.jobs.add()
        job.signal_workflow.signal_name = "NEW_MESSAGE"
        job.signal_workflow.input.extend(incoming)
        await decode_activation(act, converter, True, 1)
        done = WorkflowActivationCompletion(run_id="run")
        command = done.successful.commands.add()
        command.schedule_local_activity.activity_type = "answer_from_kb"
        command.schedule_local_activity.arguments.extend(
            await DATA_CONVERTER.encode([MAIL])  # what the workflow's converter made
        )
        await encode_completion(done, converter, True, 1)
        return done

    return once


async def cpu_us(step: Callable[[], Awaitable[object]], mails: int, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(mails):
            await step()
        best = min(best, (time.process_time() - started) / mails * 1e6)
    return round(best, 1)


async def measure(mails: int, rounds: int) -> dict[str, float]:
    sealing = sealing_converter(parse_key_ring(new_key_entry("bench")))
    figures: dict[str, float] = {}
    for name, step in (("handoff", handoff), ("activation", activation)):
        for variant, converter in (("plain", DATA_CONVERTER), ("sealed", sealing)):
            figures[f"{name}_{variant}_us"] = await cpu_us(step(converter), mails, rounds)
        extra = figures[f"{name}_sealed_us"] - figures[f"{name}_plain_us"]
        figures[f"{name}_extra_us"] = round(extra, 1)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.payload_codec")
    parser.add_argument("--mails", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    figures = asyncio.run(measure(args.mails, args.rounds))
    for name in ("handoff", "activation"):
        print(
            f"{name}: plain {figures[f'{name}_plain_us']} µs, sealed "
            f"{figures[f'{name}_sealed_us']} µs per mail (+{figures[f'{name}_extra_us']} µs)"
        )
    print_json({"payload_codec": figures})


if __name__ == "__main__":
    main()
