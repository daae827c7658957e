"""Two nodes, one fault: nodes A and B, each its own data directory, worker and SMTP adapter,
share one Temporal server and one PostgreSQL database (MAILROOM_DATABASE_URL) and relay to
one SMTP relay. Senders spread support and procurement conversations over both nodes, each
conversation's two mails on different nodes; mid-stream node B's worker and adapter are
SIGKILLed together, and the senders fail over to node A as an MTA tries the next MX. Node A
finishes B's threads: every accepted mail in exactly one thread once, every mail sent once at
the relay, every order once under one PO number, and `mailroom threads`, `pos` and `outbox`
show the same with either node's environment (`outbox`: every mail the relay took, once).

Before the stream, while only node A's worker runs, supplier invoices with PDF attachments go
to node B's adapter: node A's worker reads each attachment from the shared blob store and
books the invoice once in the shared invoice book."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest

from tests.faults.books import read_books, report, settled_books
from tests.faults.deployment import Child, Deployment
from tests.faults.mta import SendingMta
from tests.faults.two_node_invoices import (
    SupplierInvoice,
    booked,
    deliver,
    invoice_book,
    ordered_from_acme,
    supplier_invoices,
)
from tests.faults.two_nodes import (
    Conversation,
    TimedRelay,
    conversations,
    events_by,
    kinds,
    mailroom,
    mailroom_json,
    spread,
    two_nodes,
)
from tests.support import wait_for
from use_cases.models import ThreadState, ThreadStatus

pytestmark = pytest.mark.slow

SUPPORT_THREADS = 12
SMALL_ORDERS = 8
LARGE_ORDERS = 2  # approved with `mailroom approve`, one from each node's environment
INVOICES = 3  # PDF invoices from ACME, against orders made for them in the ledger
RATE_PER_NODE = 6.0
KILL_BEFORE = 0.75  # the share of node B's mail accepted by the time it is killed, at most
# A killed worker's tasks wait out their timeouts before node A runs them: a sticky queue's
# schedule-to-start (10 s), a relayed send's heartbeat (10 s), a ledger call's 30 s.
SETTLE_TIMEOUT = 60.0
# How long before the SIGKILL a mail node B's worker was sending may have reached the relay
# without reaching the sent log (a send takes milliseconds; this is the loaded-machine bound).
IN_FLIGHT = 1.0


@pytest.fixture
def relay() -> Iterator[TimedRelay]:
    with TimedRelay() as sink:
        yield sink


@pytest.fixture
def nodes(
    tmp_path: Path, tag: str, postgres_url: str, relay: TimedRelay
) -> Iterator[tuple[Deployment, Deployment]]:
    node_a, node_b = two_nodes(
        tmp_path,
        tag,
        MAILROOM_DATABASE_URL=postgres_url,
        MAILROOM_OUTBOUND_SMTP=f"127.0.0.1:{relay.port}",
    )
    try:
        yield node_a, node_b
    finally:
        node_b.stop()
        node_a.stop()


async def test_a_node_killed_mid_stream_loses_and_repeats_nothing_on_either_node(
    nodes: tuple[Deployment, Deployment], relay: TimedRelay, tmp_path: Path, postgres_url: str
) -> None:
    node_a, node_b = nodes
    client = await node_a.start_temporal()
    await node_a.start_worker()
    _, smtp_b = await asyncio.gather(node_a.start_smtp(), node_b.start_smtp())
    invoices = supplier_invoices(
        node_a.tag, await ordered_from_acme(postgres_url, node_a.tag, INVOICES)
    )
    invoicing = time.monotonic()
    invoiced = await deliver(node_b.smtp_port, invoices)  # read by node A's worker, the only one
    await booked(node_a.gateway, invoices)
    invoicing = time.monotonic() - invoicing
    worker_b = await node_b.start_worker()
    talks = conversations(
        node_a.tag, support=SUPPORT_THREADS, small=SMALL_ORDERS, large=LARGE_ORDERS
    )
    mtas, kill = await _spread_and_kill_node_b(talks, nodes, relay, (worker_b, smtp_b))
    await _approve_large_orders(talks, node_a, node_b)
    states = await _settled_threads(node_a, talks)
    thread_ids = [t.thread_id for t in talks]
    worked_by_b = await events_by(client, thread_ids, worker_b.pid)
    killed_at = kill.at
    books = await settled_books(
        lambda: read_books(_merged((*mtas, invoiced)), node_a.gateway, _relayed(relay, killed_at)),
        timeout=30,
    )
    resent = relay.resent_across(killed_at, within=IN_FLIGHT)
    sent = kinds(_relayed(relay, killed_at))
    books.notes.append(
        f"{INVOICES} invoices via node B booked by node A in {invoicing:.1f}s; "
        f"node B killed {kill.into_stream:.1f}s into the stream, {kill.taken_by_b} mails taken; "
        f"settled {time.monotonic() - killed_at:.1f}s after; node B's worker recorded "
        f"{worked_by_b} events before; relay got {dict(sent)}; relayed again after the "
        f"kill, taken from node B in its last {IN_FLIGHT:g}s: {len(resent)} "
        f"{_offsets(relay, resent, killed_at)}"
    )
    report(books, "two nodes, node B SIGKILL", tmp_path)
    assert kill.taken_by_b < len(mtas[1].mails), "node B's senders failed over to node A"
    assert worked_by_b > 0, "node B's worker took tasks before it was killed"
    assert books.balanced, books.evidence()
    repeated = _offsets(relay, {m for m, n in relay.received.items() if n > 1} - resent, killed_at)
    assert repeated == {}, f"sent more than once at the relay (seconds from the kill): {repeated}"
    orders = SMALL_ORDERS + LARGE_ORDERS
    assert (sent["ack"], sent["procurement-2-confirmation"]) == (len(talks) + INVOICES, orders)
    _assert_each_order_once(node_a, node_b, talks, invoices)
    _assert_each_invoice_booked_once(postgres_url, invoices, sent)
    _assert_either_node_shows_every_thread(node_a, node_b, states, invoices)
    _assert_either_node_lists_every_relayed_mail_once(node_a, node_b, relay)


def _relayed(relay: TimedRelay, killed_at: float) -> Counter[str]:
    """Message-ID → copies the relay got, one for a mail the relay took in the instant before
    node B's worker could record it in the shared sent log and took again from node A after
    the kill: SMTP has no idempotency (adapters/outbound/smtp_sender.py), a documented limit."""
    resent = relay.resent_across(killed_at, within=IN_FLIGHT)
    return Counter({m: 1 if m in resent else n for m, n in dict(relay.received).items()})


def _offsets(relay: TimedRelay, message_ids: set[str], killed_at: float) -> dict[str, list[float]]:
    """When each copy of these mails reached the relay, in seconds from the kill."""
    return {m: [round(t - killed_at, 3) for t in relay.arrivals[m]] for m in sorted(message_ids)}


@dataclass(frozen=True)
class Kill:
    at: float  # time.monotonic()
    into_stream: float  # seconds after the senders started
    taken_by_b: int  # mails node B's adapter had accepted


async def _spread_and_kill_node_b(
    talks: list[Conversation],
    nodes: tuple[Deployment, Deployment],
    relay: TimedRelay,
    node_b_processes: tuple[Child, Child],
) -> tuple[tuple[SendingMta, SendingMta], Kill]:
    """Senders for each node (B's failing over to A) until every mail is accepted; node B's
    worker and adapter SIGKILLed on the way."""
    node_a, node_b = nodes
    to_a, to_b = spread(talks)
    mta_a = SendingMta(node_a.smtp_port, to_a, rate=RATE_PER_NODE, clients=3)
    mta_b = SendingMta(
        node_b.smtp_port, to_b, rate=RATE_PER_NODE, clients=3, backup_ports=(node_a.smtp_port,)
    )
    mtas = (mta_a, mta_b)
    began = time.monotonic()
    for mta in mtas:
        mta.start()
    try:
        await wait_for(lambda: _time_to_kill(mta_b, relay), what="orders being confirmed")
        for process in node_b_processes:
            process.kill()
        kill = Kill(time.monotonic(), time.monotonic() - began, mta_b.accepted)
        await wait_for(lambda: all(m.done for m in mtas), timeout=60, what="every mail accepted")
    finally:
        for mta in mtas:
            mta.stop()
    return mtas, kill


def _time_to_kill(mta_b: SendingMta, relay: TimedRelay) -> bool:
    """Once orders are confirmed (both workers making POs), or before node B's senders run
    out of mail, whichever comes first."""
    confirming = any("-confirmation-" in message_id for message_id in list(relay.received))
    return confirming or mta_b.accepted >= len(mta_b.mails) * KILL_BEFORE


def _merged(mtas: tuple[SendingMta, ...]) -> SendingMta:
    """One sender's view of them all: the mails and outcomes the books read."""
    merged = SendingMta(0, [m for mta in mtas for m in mta.mails], rate=1)
    for mta in mtas:
        merged.outcomes.accepted.update(mta.outcomes.accepted)
        merged.outcomes.rejected.update(mta.outcomes.rejected)
        merged.outcomes.attempts += mta.outcomes.attempts
        merged.outcomes.replies.update(mta.outcomes.replies)
        merged.outcomes.dropped += mta.outcomes.dropped
    return merged


async def _approve_large_orders(
    talks: list[Conversation], node_a: Deployment, node_b: Deployment
) -> None:
    """Each large order approved once it waits, from node A's and node B's environment in
    turn (node B's processes are dead; its configuration still reaches everything)."""
    large = [t.thread_id for t in talks if t.kind == "large order"]
    for n, thread_id in enumerate(large):
        await wait_for(
            partial(_waits_for_approval, node_a, thread_id),
            timeout=SETTLE_TIMEOUT,
            what=f"{thread_id} waiting for approval",
        )
        mailroom(node_a if n % 2 == 0 else node_b, "approve", thread_id, "--by", "ops")


async def _waits_for_approval(node: Deployment, thread_id: str) -> bool:
    with contextlib.suppress(Exception):  # not started yet
        return (await node.gateway.get(thread_id)).pending_approval
    return False


async def _settled_threads(node: Deployment, talks: list[Conversation]) -> list[ThreadState]:
    """Every conversation's two mails in its thread; every order confirmed and completed."""
    last: list[list[ThreadState]] = []

    async def settled() -> bool:
        last[:] = [[await node.gateway.get(t.thread_id) for t in talks]]
        return all(_settled(talk, state) for talk, state in zip(talks, last[0], strict=True))

    with contextlib.suppress(AssertionError):  # reported below, thread by thread
        await wait_for(settled, timeout=SETTLE_TIMEOUT, what="")
    unsettled = [
        (talk.kind, s.thread_id[-8:], s.status.value, s.stage, s.message_count)
        for talk, s in zip(talks, last[0], strict=True)
        if not _settled(talk, s)
    ]
    assert not unsettled, f"not settled: {unsettled}"
    return last[0]


def _settled(talk: Conversation, state: ThreadState) -> bool:
    if state.message_count != 2:
        return False
    if talk.kind == "support":
        return True
    confirmed = any(c.stage == "confirmed" for c in state.history)
    return confirmed and state.status is ThreadStatus.COMPLETED


def _assert_each_order_once(
    node_a: Deployment,
    node_b: Deployment,
    talks: list[Conversation],
    invoices: list[SupplierInvoice],
) -> None:
    orders = mailroom_json(node_a, "pos")
    assert mailroom_json(node_b, "pos") == orders, "both nodes list the same POs"
    numbers = Counter(o["po_number"] for o in orders)
    assert [n for n, times in numbers.items() if times > 1] == [], "a PO number twice"
    by_thread = Counter(o["thread_id"] for o in orders)
    ordering = {t.thread_id for t in talks if t.kind != "support"}
    invoiced = {o["thread_id"] for o in orders if o["po_number"] in {i.po_number for i in invoices}}
    assert len(invoiced) == len(invoices), "the orders made for the invoices are listed"
    assert by_thread == Counter(dict.fromkeys(ordering | invoiced, 1)), "one PO per ordering thread"


def _assert_each_invoice_booked_once(
    url: str, invoices: list[SupplierInvoice], sent: Counter[str]
) -> None:
    expected = sorted((i.number, i.po_number) for i in invoices)
    assert sorted(invoice_book(url)) == expected, "each invoice booked once, against its order"
    assert sent["invoices-1-booked"] == len(invoices), "each supplier told once"


def _assert_either_node_shows_every_thread(
    node_a: Deployment,
    node_b: Deployment,
    states: list[ThreadState],
    invoices: list[SupplierInvoice],
) -> None:
    seen_a = {t["thread_id"]: t for t in mailroom_json(node_a, "threads")}
    seen_b = {t["thread_id"]: t for t in mailroom_json(node_b, "threads")}
    assert seen_a == seen_b, "both nodes list the same threads"
    assert set(seen_a) == {s.thread_id for s in states} | {i.thread_id for i in invoices}


def _assert_either_node_lists_every_relayed_mail_once(
    node_a: Deployment, node_b: Deployment, relay: TimedRelay
) -> None:
    """With the relay nothing is in either node's own outbox: the shared sent log lists it."""
    listed = mailroom_json(node_a, "outbox")
    assert mailroom_json(node_b, "outbox") == listed, "both nodes list the same sent mail"
    by_id = Counter(e["message_id"] for e in listed)
    assert by_id == Counter(dict.fromkeys(relay.received, 1)), "every relayed mail, once"
    assert {e["via"] for e in listed} == {"relay"}
