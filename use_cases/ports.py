"""Ports: what the application needs from the outside world. Adapters implement them."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from pydantic import BaseModel

from use_cases.budgets import BudgetHolder
from use_cases.flows import (
    ApprovalDecision,
    Classification,
    ClassifyRequest,
    CreatePurchaseOrder,
    ExtractRequest,
    KbAnswer,
    PurchaseOrder,
    PurchaseRequest,
    Triage,
)
from use_cases.mail import BlobRef, InboundEmail, OutboundEmail, OutboxEntry, SendResult
from use_cases.models import (
    CompleteRequest,
    HumanReply,
    NewMessage,
    ThreadEntry,
    ThreadKey,
    ThreadState,
    ThreadStatus,
)
from use_cases.reply_cap import AutomaticMailCaps


class HandoffFailed(Exception):
    """The thread engine did not acknowledge a hand-off; the caller must retry later."""


class PermanentDeliveryFailure(Exception):
    """The relay answered 5xx: retrying will never deliver this mail (RFC 5321 §4.2.1)."""

    def __init__(self, status: str, reason: str, recipients: tuple[str, ...] = ()) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason
        self.recipients = recipients


class ThreadNotFound(LookupError):
    pass


class NothingToDecide(ValueError):
    """An approval or rejection for a thread that is not waiting for one."""


class Backpressure(Protocol):
    """The accepted-but-not-applied backlog as the adapters see it: while `overloaded`,
    SMTP holds new senders (then answers 451 4.3.2), IMAP stops fetching and replay waits."""

    @property
    def overloaded(self) -> bool: ...

    def handed_off(self, workflow_id: str) -> None:
        """A thread was handed a message; it counts as behind until seen applied."""

    async def wait_until_clear(self) -> None: ...


class ThreadGateway(Protocol):
    async def new_message(self, key: ThreadKey, message: NewMessage) -> None:
        """Durably hand a message to its thread (signal-with-start); raise HandoffFailed."""
        ...

    async def complete(self, thread_id: str, request: CompleteRequest) -> None: ...

    async def decide(self, thread_id: str, decision: ApprovalDecision) -> None: ...

    async def reply(self, thread_id: str, reply: HumanReply) -> None:
        """A person's answer (HUMAN_REPLY), sent once by its fixed Message-ID."""
        ...

    async def is_open(self, thread_id: str) -> bool:
        """Whether the thread's workflow is running (not completed or unknown)."""
        ...

    async def get(self, thread_id: str) -> ThreadState: ...

    async def list(self, status: ThreadStatus | None = None) -> list[ThreadState]: ...


class EmailSender(Protocol):
    async def send(self, mail: OutboundEmail) -> SendResult:
        """Send once: a Message-ID already sent is not sent again."""
        ...


class Outbox(Protocol):
    def entries(self) -> list[OutboxEntry]: ...


EmailParser = Callable[[bytes], InboundEmail]
# Whether a trusted verdict in the raw mail says its From: address's domain sent it (the
# operator's MTA, RFC 8601: adapters/inbound/authentication.py).
SenderAuthentication = Callable[[bytes, str], bool]


class Agent(Protocol):
    """What flows ask of an agent; the default is rules + a knowledge base, offline."""

    async def classify(self, request: ClassifyRequest) -> Classification: ...

    async def extract_request(self, request: ExtractRequest) -> PurchaseRequest: ...

    async def triage(self, request: ClassifyRequest) -> Triage: ...

    async def answer_from_kb(self, request: ClassifyRequest) -> KbAnswer: ...


class Ledger(Protocol):
    async def create_purchase_order(self, order: CreatePurchaseOrder) -> PurchaseOrder:
        """Idempotent by `order.po_key`: the same key returns the same purchase order."""
        ...

    def purchase_orders(self) -> list[PurchaseOrder]: ...

    async def spent_since(self, holder: BudgetHolder, since: datetime) -> float:
        """The totals of the orders made out of `holder`'s budget at or after `since`."""
        ...


class BlobNotFound(LookupError):
    pass


class BlobStore(Protocol):
    """Content-addressed bytes (claim-check): the workflow holds the BlobRef, never the bytes."""

    async def put(self, data: bytes) -> BlobRef:
        """Store `data` under its address (a hash of the bytes: keyed, and the bytes sealed,
        in mailroom's stores); storing the same bytes again is a no-op."""
        ...

    async def get(self, sha256: str) -> bytes:
        """The bytes stored under the address `sha256`; raise BlobNotFound."""
        ...

    async def keep_raw(self, message_id: str, raw: bytes) -> BlobRef:
        """Store a received message and remember it under its Message-ID (for reprocess)."""
        ...

    async def raw(self, message_id: str) -> bytes:
        """The raw message last kept under `message_id`; raise BlobNotFound."""
        ...

    async def settle(self, refs: Sequence[BlobRef]) -> None:
        """A thread now holds these (one entry per `put`/`keep_raw` of the mail): they are
        never removed. Called once a hand-off may have reached Temporal."""
        ...

    async def release(self, refs: Sequence[BlobRef], *, message_id: str | None = None) -> None:
        """The mail that stored these (one entry per `put`/`keep_raw`) was refused before any
        thread got it: remove each one that no accepted mail holds and no other mail is
        storing, and the raw pointer of `message_id` if its blob went."""
        ...


class StorageSpace(Protocol):
    """Free space where mail is kept, against a reserve (Postfix's queue_minfree)."""

    def room_for(self, size: int) -> bool:
        """Whether a mail of `size` bytes (0: not known yet) may be taken now."""
        ...


class StorageCapacity(StorageSpace, Protocol):
    """StorageSpace that also knows how big it could ever get, so a mail that would not fit
    even on an otherwise empty disk is set aside instead of waited for forever (IMAP)."""

    def ever_room_for(self, size: int) -> bool:
        """Whether a mail of `size` bytes would fit with nothing else on the disk."""
        ...


class ThreadIndex(Protocol):
    """Durable Message-ID → thread map, so replies find their thread whatever headers the
    client kept, the threads' ticket references, and a subject index for the last-resort
    subject fallback."""

    async def threads_of(self, message_ids: Sequence[str], mailbox: str) -> dict[str, str]:
        """{message id: workflow id} for the ids already seen in `mailbox`."""
        ...

    async def record(self, mailbox: str, workflow_id: str, entry: ThreadEntry) -> None: ...

    async def by_subject(
        self, mailbox: str, subject_key: str, since: datetime
    ) -> list[ThreadEntry]:
        """Threads of `mailbox` with this normalised subject, active since `since`."""
        ...

    async def threads_with_reference(self, mailbox: str, reference: str) -> list[str]:
        """The workflow ids of the threads of `mailbox` recorded with this ticket reference."""
        ...


class AutoReplyLog(Protocol):
    """Automatic mail sent across all threads (the cross-thread caps)."""

    async def reserve(
        self,
        message_id: str,
        recipients: Sequence[str],
        at: datetime,
        caps: AutomaticMailCaps,
        *,
        per_person_only: bool = False,
    ) -> str | None:
        """Count this mail against the caps in one step; the cap it would exceed (then
        nothing is counted), else None. A message id counted before is None again: a
        retried send is the same mail. `per_person_only`: the caps per domain and in all
        do not apply to it (it still counts towards them)."""
        ...


class WorkflowSignals(Protocol):
    """A signal from one of our workflows to another, sent by an activity (a child flow's
    progress to its thread: see activities/signals.py)."""

    async def signal(self, workflow_id: str, name: str, arg: BaseModel, *, request_id: str) -> bool:
        """Signal the open run of `workflow_id`, at most once per `request_id` in that run;
        False when no run is open or the server refuses the signal for good (too large, not
        permitted); raises while the server cannot be reached, for the caller to retry."""
        ...


class IntakeMetrics(Protocol):
    """What the intake adapters count (issue 21); labels are bounded names, never an
    address or a thread id. The Prometheus adapter: adapters/outbound/metrics.py."""

    def mail_received(self) -> None:
        """A mail's body arrived (SMTP DATA), before it is checked or handed off."""
        ...

    def mail_answered(self, stage: str, outcome: str, code: str, reason: str) -> None:
        """An answer about a mail: `stage` (mail, rcpt, data), `outcome` (accepted,
        deferred, refused), the reply code (`451`) and a named reason (`backlog`)."""
        ...

    def handoff_took(self, outcome: str, seconds: float) -> None:
        """One hand-off of a received mail to its threads, and how it ended."""
        ...

    def senders_held(self, count: int) -> None:
        """How many senders are held now, waiting for the backlog to clear."""
        ...

    def connection_closed(self, code: str, reason: str) -> None:
        """mailroom closed an SMTP connection with an answer of its own (`421`, `554`) for
        a named reason (`busy`, `idle_timeout`, `out_of_sync`, …)."""
        ...

    def sources_expected(self, intervals: Mapping[str, float]) -> None:
        """The sources this process takes mail from (a configured SMTP mailbox or an IMAP
        source name) and how long each may stay quiet (seconds, 0: never alert); each counts
        as having accepted a mail now, so a source that never receives still alerts."""
        ...

    def mail_taken(self, source: str) -> None:
        """A mail from `source` (one of sources_expected's) was handed to its threads."""
        ...

    def duplicate_dropped(self, where: str) -> None:
        """A mail dropped as already taken (`intake`: its completed thread has it)."""
        ...

    def watch_backlog(self, backlog: BacklogView) -> None:
        """Report `backlog`'s size and age (read whenever they are asked for)."""
        ...


class BacklogView(Protocol):
    """The hand-off backlog as the metrics read it (adapters/outbound/temporal_backlog.py)."""

    @property
    def age(self) -> float:
        """Seconds the oldest mail handed off but not yet applied in its thread has waited."""
        ...

    @property
    def mails(self) -> int:
        """Mails handed off and not yet seen applied in their threads."""
        ...


class ImapMetrics(Protocol):
    """What an IMAP source counts (issue 21), labelled by the source's configured name."""

    def sources_polled(self, sources: Collection[str], errors: Collection[str]) -> None:
        """The IMAP sources this process polls: each one's counters shown at 0 (each kind
        of `errors` too), its last fetch counted as now, so a source that never fetches
        (a wrong password from the start) still shows as failing and stale."""
        ...

    def fetched(self, source: str, mails: int) -> None:
        """A successful fetch from `source`, of `mails` mails (0: found none new)."""
        ...

    def poll_failed(self, source: str, error: str) -> None:
        """A session failed: `error` is connect, login, fetch or other."""
        ...

    def quarantined(self, source: str) -> None:
        """A mail set aside in the quarantine folder instead of handed off."""
        ...


class ProcessMetrics(IntakeMetrics, ImapMetrics, Protocol):
    """Everything a serving process counts itself (the adapters' metrics)."""


class NoMetrics:
    """IntakeMetrics and ImapMetrics that count nothing (metrics off, tests)."""

    def mail_received(self) -> None:
        pass

    def mail_answered(self, stage: str, outcome: str, code: str, reason: str) -> None:
        pass

    def handoff_took(self, outcome: str, seconds: float) -> None:
        pass

    def senders_held(self, count: int) -> None:
        pass

    def connection_closed(self, code: str, reason: str) -> None:
        pass

    def sources_expected(self, intervals: Mapping[str, float]) -> None:
        pass

    def mail_taken(self, source: str) -> None:
        pass

    def duplicate_dropped(self, where: str) -> None:
        pass

    def watch_backlog(self, backlog: BacklogView) -> None:
        pass

    def sources_polled(self, sources: Collection[str], errors: Collection[str]) -> None:
        pass

    def fetched(self, source: str, mails: int) -> None:
        pass

    def poll_failed(self, source: str, error: str) -> None:
        pass

    def quarantined(self, source: str) -> None:
        pass
