"""The hand-off `bench.adapter_cpu` gives the SMTP handler: `mailroom smtp`'s ingest, with
parts switched off by variant, and a gateway that builds and encodes the signal-with-start
but does not send it (no Temporal in the measured process)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import cast

from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy

from adapters.outbound.key_ring import new_key_entry, parse_key_ring
from adapters.outbound.temporal_gateway import TemporalThreadGateway
from orchestrator.bootstrap import Wiring, sealing_converter
from orchestrator.flow_settings import flow_config
from use_cases.ingest import ingest_email
from use_cases.models import Ingested, NewMessage, ThreadInput, ThreadKey, ThreadState
from use_cases.thread_labels import thread_details, thread_summary
from workflows.versions import HISTORY_FORMAT

# as the adapter's client encodes: mailroom's converter, sealing (issue 22)
SEALING = sealing_converter(parse_key_ring(new_key_entry("bench")))

Ingest = Callable[[bytes, Sequence[str], str | None], Awaitable[Ingested]]


class EncodingGateway(TemporalThreadGateway):
    """The real gateway up to the client call: the start's input, the mail and the Web UI's
    labels, encoded as the client would encode them."""

    async def _signal_with_start(
        self,
        key: ThreadKey,
        message: NewMessage,
        state: ThreadState | None,
        reuse: WorkflowIDReusePolicy,
    ) -> None:
        thread_input = ThreadInput(
            thread_id=key.workflow_id,
            mailbox=key.mailbox,
            state=state,
            messages_per_run=self.messages_per_run,
            flow_config=self.flow_config,
            history_format=HISTORY_FORMAT,
        )
        labels = [
            thread_summary(message.subject, message.from_addr),
            thread_details(key.mailbox, key.workflow_id, message.message_id),
        ]
        await SEALING.encode([thread_input, message, *labels])


def handoff(wiring: Wiring, variant: str) -> Ingest:
    """What the handler calls with each mail, for `variant` (see bench.adapter_cpu)."""
    gateway = EncodingGateway(
        cast(Client, None), task_queue="bench", flow_config=flow_config(wiring.settings)
    )

    async def nothing(raw: bytes, mailboxes: Sequence[str], mail_from: str | None) -> Ingested:
        return Ingested(message_id="<bench@example.com>", thread_ids=("bench",))

    async def ingest(raw: bytes, mailboxes: Sequence[str], mail_from: str | None) -> Ingested:
        return await ingest_email(
            raw,
            mailboxes=mailboxes,
            gateway=gateway,
            parse=wiring.parse,
            envelope_from=mail_from,
            blobs=wiring.blobs if variant == "blobs" else None,
            threading=wiring.threading if variant in ("index", "blobs") else None,
            authenticate=wiring.authenticate,
        )

    return nothing if variant == "protocol" else ingest
