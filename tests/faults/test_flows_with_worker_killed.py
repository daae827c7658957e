"""SIGKILL of the worker while procurement flows run as child workflows (the default mode),
each asking its requester for what is missing, then ordering. Besides the books (every
accepted mail in one thread once, every acknowledgement once): every purchase is ordered
once, every confirmation is sent once, and each thread records each stage of
its flow once, although a killed worker's tasks re-run their local activities, the child's
progress reports among them."""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from pathlib import Path

import pytest

from adapters.outbound.ledger import SqliteLedger
from tests.faults.books import read_books, report, settled_books
from tests.faults.deployment import Deployment
from tests.faults.mta import Mail, SendingMta, raw_mail
from tests.support import wait_for
from use_cases.models import ThreadState, ThreadStatus
from use_cases.threading import workflow_id_for

pytestmark = pytest.mark.slow

PROCUREMENT = "procurement@mailroom.local"
THREADS = 20
# The first mail names no quantity or budget, so the flow asks; the answer completes the
# request, which is under the auto-approval limit: ordered, confirmed.
REQUEST = "Hello, our team needs new monitors. Thanks!"
ANSWER = "We need 3 monitors, budget EUR 600."


def order_mails(tag: str) -> list[Mail]:
    mails: list[Mail] = []
    for t in range(THREADS):
        root = f"<order-{tag}-{t}@example.com>"
        answer_id = f"<order-{tag}-{t}-answer@example.com>"
        sender = f"buyer{t}@example.com"
        thread_id = workflow_id_for(PROCUREMENT, root)
        request = _order_mail(sender, "Monitors", root, REQUEST)
        answer = _order_mail(sender, "Re: Monitors", answer_id, ANSWER, in_reply_to=root)
        mails += [
            Mail(root, thread_id, sender, request, to=PROCUREMENT),
            Mail(answer_id, thread_id, sender, answer, to=PROCUREMENT),
        ]
    return mails


def _order_mail(
    sender: str, subject: str, message_id: str, body: str, in_reply_to: str | None = None
) -> bytes:
    return raw_mail(
        sender=f"<{sender}>",
        to=PROCUREMENT,
        subject=subject,
        message_id=message_id,
        body=body + "\r\n",
        in_reply_to=in_reply_to,
        references=(in_reply_to,) if in_reply_to else (),
    )


async def test_a_killed_worker_orders_each_purchase_once_and_records_each_stage_once(
    deployment: Deployment, tmp_path: Path
) -> None:
    await deployment.start_temporal()
    worker = await deployment.start_worker()
    await deployment.start_smtp()
    mails = order_mails(deployment.tag)
    mta = SendingMta(deployment.smtp_port, mails, rate=8)
    mta.start()
    try:
        await wait_for(lambda: mta.accepted >= len(mails) // 3, what="a third accepted")
        worker.kill()
        killed_at = time.monotonic()
        await deployment.start_worker()
        await wait_for(lambda: mta.done, timeout=60, what="every mail accepted")
    finally:
        mta.stop()
    threads = sorted({mail.thread_id for mail in mails})
    last: list[list[ThreadState]] = []
    with contextlib.suppress(AssertionError):  # reported below, thread by thread
        await wait_for(lambda: _all_ordered(deployment, threads, last), timeout=90, what="")
    states = last[-1]
    unsettled = [(s.thread_id[-8:], s.status.value, s.stage) for s in states if not _ordered(s)]
    assert not unsettled, f"not ordered and completed: {unsettled}"
    books = await settled_books(
        lambda: read_books(mta, deployment.gateway, deployment.outbox_replies()), timeout=30
    )
    ledger = SqliteLedger(deployment.data_dir / "ledger.sqlite")
    orders = Counter(order.thread_id for order in ledger.purchase_orders())
    flow_mails = _flow_mails(deployment.outbox_replies())
    repeated_stages = {s.thread_id[-8:]: _repeated(s) for s in states if _repeated(s)}
    books.notes.append(
        f"worker killed {time.monotonic() - killed_at:.1f}s before all confirmed; "
        f"orders {sum(orders.values())}/{THREADS}, questions {flow_mails['question']}, "
        f"confirmations {flow_mails['confirmation']}, threads with a stage twice "
        f"{len(repeated_stages)}"
    )
    report(books, "worker SIGKILL with child flows", tmp_path)
    assert books.balanced, books.evidence()
    assert orders == Counter({t: 1 for t in threads})
    assert flow_mails["confirmation"] == THREADS
    assert flow_mails["question"] <= THREADS  # none where the answer came first
    assert repeated_stages == {}, f"stages recorded twice, by thread: {repeated_stages}"


async def _all_ordered(
    deployment: Deployment, threads: list[str], last: list[list[ThreadState]]
) -> bool:
    last[:] = [[await deployment.gateway.get(t) for t in threads]]
    return all(_ordered(s) for s in last[0])


def _ordered(state: ThreadState) -> bool:
    """Both mails in, the order confirmed, the thread completed. A retried mail can arrive
    after the next one: a thread that got the answer first orders from it, completes, and
    the late request reopens it into a flow that notes it and ends."""
    confirmed = any(c.stage == "confirmed" for c in state.history)
    return state.message_count == 2 and confirmed and state.status is ThreadStatus.COMPLETED


def _repeated(state: ThreadState) -> list[str]:
    """The stage changes a thread recorded more than once (each stage at the time the flow
    passed it: a flow passing a stage again, as `extracting` after an answer, does so later)."""
    seen = Counter((c.stage, c.at) for c in state.history)
    return [f"{stage}@{at:%H:%M:%S.%f} x{n}" for (stage, at), n in seen.items() if n > 1]


def _flow_mails(sent: Counter[str]) -> Counter[str]:
    """Questions and confirmations in the outbox, each counted as often as delivered."""
    counted: Counter[str] = Counter()
    for message_id, times in sent.items():
        for purpose in ("question", "confirmation"):
            if f"-{purpose}-" in message_id:
                counted[purpose] += times
    return counted
