"""Recording fakes for the ports we own. Never for Temporal."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from use_cases.coordinator import (
    CoordinatorView,
    Instruction,
    StartProcessing,
    StopProcessing,
    Verdict,
)
from use_cases.flows import ApprovalDecision
from use_cases.mail import BlobRef, OutboundEmail, SendResult
from use_cases.models import (
    CompleteRequest,
    HumanReply,
    NewMessage,
    ThreadEntry,
    ThreadKey,
    ThreadState,
    ThreadStatus,
)
from use_cases.ports import BlobNotFound, HandoffFailed, PermanentDeliveryFailure, ThreadNotFound


class FakeEmailSender:
    def __init__(self) -> None:
        self.sent: list[OutboundEmail] = []
        self.attempts = 0
        self.failures_left = 0
        self.refuse_with: PermanentDeliveryFailure | None = None

    async def send(self, mail: OutboundEmail) -> SendResult:
        self.attempts += 1
        if self.refuse_with is not None:
            raise self.refuse_with
        if self.failures_left:
            self.failures_left -= 1
            raise ConnectionError("relay down (fake)")
        if any(m.message_id == mail.message_id for m in self.sent):
            return SendResult(message_id=mail.message_id, already_sent=True)
        self.sent.append(mail)
        return SendResult(message_id=mail.message_id, already_sent=False)


class FakeBackpressure:
    """A backlog the test sets: `overloaded` from `overload()` until `clear()`; records the
    threads handed mail and how many callers wait for it to clear."""

    def __init__(self, *, overloaded: bool = False) -> None:
        self.threads: list[str] = []
        self.waiting = 0
        self._clear = asyncio.Event()
        if not overloaded:
            self._clear.set()

    @property
    def overloaded(self) -> bool:
        return not self._clear.is_set()

    def handed_off(self, workflow_id: str) -> None:
        self.threads.append(workflow_id)

    async def wait_until_clear(self) -> None:
        self.waiting += 1
        try:
            await self._clear.wait()
        finally:
            self.waiting -= 1

    def overload(self) -> None:
        self._clear.clear()

    def clear(self) -> None:
        self._clear.set()


class FakeThreadGateway:
    def __init__(self) -> None:
        self.handed_off: list[tuple[ThreadKey, NewMessage]] = []
        self.completed: list[tuple[str, CompleteRequest]] = []
        self.decisions: list[tuple[str, ApprovalDecision]] = []
        self.replies: list[tuple[str, HumanReply]] = []
        self.fail_with: str | None = None
        self.closed: set[str] = set()
        self.listed: list[ThreadState] | None = None

    async def new_message(self, key: ThreadKey, message: NewMessage) -> None:
        if self.fail_with:
            raise HandoffFailed(self.fail_with)
        self.handed_off.append((key, message))

    async def complete(self, thread_id: str, request: CompleteRequest) -> None:
        self.completed.append((thread_id, request))

    async def decide(self, thread_id: str, decision: ApprovalDecision) -> None:
        self.decisions.append((thread_id, decision))

    async def reply(self, thread_id: str, reply: HumanReply) -> None:
        self.replies.append((thread_id, reply))

    async def is_open(self, thread_id: str) -> bool:
        return thread_id not in self.closed and any(
            k.workflow_id == thread_id for k, _ in self.handed_off
        )

    async def get(self, thread_id: str) -> ThreadState:
        for key, _ in self.handed_off:
            if key.workflow_id == thread_id:
                return ThreadState(thread_id=thread_id, workflow_id=thread_id, mailbox=key.mailbox)
        raise ThreadNotFound(thread_id)

    async def list(self, status: ThreadStatus | None = None) -> list[ThreadState]:
        if self.listed is not None:  # the threads a test set, as the listing would find them
            return [s for s in self.listed if status is None or s.status == status]
        ids = dict.fromkeys(k.workflow_id for k, _ in self.handed_off)
        return [await self.get(i) for i in ids]


class FakeBlobStore:
    """In-memory BlobStore (content-addressed like the real one)."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.raws: dict[str, str] = {}
        self.settled: set[str] = set()

    async def put(self, data: bytes) -> BlobRef:
        ref = BlobRef(sha256=hashlib.sha256(data).hexdigest(), size=len(data))
        self.blobs[ref.sha256] = data
        return ref

    async def get(self, sha256: str) -> bytes:
        if sha256 not in self.blobs:
            raise BlobNotFound(sha256)
        return self.blobs[sha256]

    async def keep_raw(self, message_id: str, raw: bytes) -> BlobRef:
        ref = await self.put(raw)
        self.raws[message_id] = ref.sha256
        return ref

    async def raw(self, message_id: str) -> bytes:
        if message_id not in self.raws:
            raise BlobNotFound(message_id)
        return self.blobs[self.raws[message_id]]

    async def settle(self, refs: Sequence[BlobRef]) -> None:
        self.settled.update(ref.sha256 for ref in refs)

    async def release(self, refs: Sequence[BlobRef], *, message_id: str | None = None) -> None:
        for ref in refs:
            if ref.sha256 not in self.settled:
                self.blobs.pop(ref.sha256, None)
        if message_id is not None and self.raws.get(message_id) not in self.blobs:
            self.raws.pop(message_id, None)


class FakeThreadIndex:
    """In-memory ThreadIndex."""

    def __init__(self) -> None:
        self.messages: dict[tuple[str, str], str] = {}
        self.threads: dict[tuple[str, str], ThreadEntry] = {}
        self.references: dict[tuple[str, str], list[str]] = {}

    async def threads_of(self, message_ids: Sequence[str], mailbox: str) -> dict[str, str]:
        found = ((m, self.messages.get((mailbox, m))) for m in message_ids)
        return {m: w for m, w in found if w}

    async def record(self, mailbox: str, workflow_id: str, entry: ThreadEntry) -> None:
        for message_id in entry.message_ids:
            self.messages.setdefault((mailbox, message_id), workflow_id)
        if entry.reference:
            known = self.references.setdefault((mailbox, entry.reference), [])
            known.extend([] if workflow_id in known else [workflow_id])
        previous = self.threads.get((mailbox, workflow_id))
        people = (*previous.participants, *entry.participants) if previous else entry.participants
        subject = previous.subject_key if previous else entry.subject_key
        self.threads[(mailbox, workflow_id)] = entry.model_copy(
            update={"participants": tuple(dict.fromkeys(people)), "subject_key": subject}
        )

    async def by_subject(
        self, mailbox: str, subject_key: str, since: datetime
    ) -> list[ThreadEntry]:
        return [
            e
            for (box, _), e in self.threads.items()
            if box == mailbox and e.subject_key == subject_key and e.at >= since
        ]

    async def threads_with_reference(self, mailbox: str, reference: str) -> list[str]:
        return list(self.references.get((mailbox, reference), []))


class FailingAgent:
    """An agent whose every answer is unusable, as a misbehaving model's would be."""

    def __init__(self) -> None:
        self.calls = 0

    async def _fail(self, *_: object) -> Any:
        self.calls += 1
        raise ValueError("malformed agent answer (fake)")

    classify = extract_request = triage = answer_from_kb = _fail


class AnswerLostOnce:
    """WorkflowSignals whose first answer to each request is lost after the signal went out
    (the caller's activity is retried): the retry goes out as a run that had continued-as-new
    meanwhile would see it (a request id it never saw), or, after `meanwhile`, to whatever
    the target has become (closed, say)."""

    def __init__(self, signals: Any, meanwhile: Any = None) -> None:
        self.signals = signals
        self.meanwhile = meanwhile  # async (workflow_id) -> None, awaited before the loss
        self.lost: list[str] = []  # the request ids whose answer was lost

    async def signal(self, workflow_id: str, name: str, arg: Any, *, request_id: str) -> bool:
        if request_id in self.lost:
            return bool(
                await self.signals.signal(workflow_id, name, arg, request_id=f"{request_id}-again")
            )
        delivered = await self.signals.signal(workflow_id, name, arg, request_id=request_id)
        if self.meanwhile is not None:
            await self.meanwhile(workflow_id)
        self.lost.append(request_id)
        raise ConnectionError(f"the answer to {request_id} was lost (delivered: {delivered})")


class FakeCoordinator:
    """The coordinator's lanes in memory (capacity 1, FIFO for who asks to wait), without
    leases running out by themselves: the test ends one with `lapse(item_id)`, and cuts the
    coordinator off with `reachable = False` (every call then raises, as Temporal down)."""

    def __init__(self) -> None:
        self.holders: dict[str, str] = {}  # lane → item id
        self.queues: dict[str, list[str]] = {}
        self.lapsed: set[str] = set()
        self.requests: list[StartProcessing] = []
        self.let_go_calls: list[StopProcessing] = []
        self.reachable = True

    async def request_lane(self, request: StartProcessing) -> Instruction:
        self._answer_or_fail()
        self.requests.append(request)
        item, lane = request.item.item_id, request.lane
        if item in self.lapsed:
            self.lapsed.discard(item)
            return Instruction(item_id=item, lane=lane, verdict=Verdict.LOST, reason="lapsed")
        queue = self.queues.setdefault(lane, [])
        holder = self.holders.get(lane)
        if holder == item or (holder is None and queue[:1] in ([], [item])):
            self.holders[lane] = item
            if queue[:1] == [item]:
                queue.pop(0)
            return Instruction(item_id=item, lane=lane, verdict=Verdict.GO)
        if not request.wait:
            return Instruction(item_id=item, lane=lane, verdict=Verdict.NO_GO)
        if item not in queue:
            queue.append(item)
        position = queue.index(item) + 1
        return Instruction(item_id=item, lane=lane, verdict=Verdict.QUEUED, position=position)

    async def let_go(self, stop: StopProcessing) -> Instruction:
        self._answer_or_fail()
        self.let_go_calls.append(stop)
        if self.holders.get(stop.lane) == stop.item_id:
            del self.holders[stop.lane]
        queue = self.queues.get(stop.lane, [])
        if stop.item_id in queue:
            queue.remove(stop.item_id)
        return Instruction(item_id=stop.item_id, lane=stop.lane, verdict=Verdict.RELEASED)

    async def view(self) -> CoordinatorView | None:
        return None

    def lapse(self, item_id: str) -> None:
        """The item's lease ran out: its lane is free, and its next ask is told LOST."""
        for lane, holder in list(self.holders.items()):
            if holder == item_id:
                del self.holders[lane]
                self.lapsed.add(item_id)

    def _answer_or_fail(self) -> None:
        if not self.reachable:
            raise ConnectionError("coordinator unreachable (fake)")


class FakeThreadCompletions:
    """ThreadCompletions (use_cases/retention.py): when each thread completed, as a test
    sets it (`completed[workflow_id] = when`); a thread not set is still open."""

    def __init__(self) -> None:
        self.completed: dict[str, datetime] = {}

    async def completed_at(self, workflow_ids: Sequence[str]) -> dict[str, datetime | None]:
        return {wid: self.completed.get(wid) for wid in workflow_ids}
