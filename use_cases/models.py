"""Models that cross boundaries: adapters → use cases → Temporal → activities.

Every workflow, signal, query and activity takes one of these in and gives one out, so the
pydantic data converter can (de)serialise them and their shape is checked at every edge.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

# A signal carries at most this much body text; the rest stays in the raw mail (the blob
# store and claim-check of the real-world-mail issue replace this cut).
MAX_SIGNAL_TEXT_CHARS = 32_000


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class InboundEmail(Frozen):
    """What mailroom reads out of one received message."""

    message_id: str
    message_id_generated: bool = False
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    from_addr: str = ""
    from_name: str = ""
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    subject: str = ""
    date: datetime | None = None
    text: str = ""
    return_path: str | None = None
    auto_submitted: str | None = None
    precedence: str | None = None
    defects: tuple[str, ...] = ()
    size: int = 0


class ThreadKey(Frozen):
    """Which thread a message belongs to, and the rule that decided it."""

    mailbox: str
    key: str
    rule: str
    workflow_id: str


class NewMessage(Frozen):
    """Payload of the NEW_MESSAGE signal: a message as the thread workflow sees it."""

    mailbox: str
    message_id: str
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    from_addr: str = ""
    from_name: str = ""
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    subject: str = ""
    date: datetime | None = None
    received_at: datetime
    text: str = ""
    text_truncated: bool = False
    automatic: str | None = Field(
        default=None, description="why this mail is automatic (never auto-answered), or None"
    )
    thread_rule: str = ""


class CompleteRequest(Frozen):
    """Payload of the COMPLETE_THREAD signal."""

    reason: str = "completed by operator"
    requested_by: str = "cli"


class ThreadStatus(StrEnum):
    OPEN = "open"
    COMPLETED = "completed"


class MessageSummary(Frozen):
    message_id: str
    from_addr: str
    subject: str
    received_at: datetime
    automatic: str | None = None
    thread_rule: str = ""


class ThreadState(BaseModel):
    """Everything a thread remembers; carried across continue-as-new and reopening."""

    thread_id: str
    workflow_id: str
    mailbox: str
    status: ThreadStatus = ThreadStatus.OPEN
    subject: str = ""
    participants: list[str] = Field(default_factory=list)
    message_ids: list[str] = Field(default_factory=list)
    messages: list[MessageSummary] = Field(default_factory=list)
    message_count: int = 0
    duplicates_ignored: int = 0
    acknowledged: bool = False
    replies_sent: list[str] = Field(default_factory=list)
    flow: str | None = None
    stage: str | None = None
    runs: int = 1
    reopened: int = 0
    completed_reason: str | None = None


class ThreadInput(Frozen):
    """Workflow input; `state` is set when continuing-as-new or reopening a completed thread."""

    thread_id: str
    mailbox: str
    state: ThreadState | None = None
    pending: tuple[NewMessage, ...] = ()
    messages_per_run: int = 0


class ThreadView(Frozen):
    """The public JSON shape of a thread (`mailroom thread ID --json`)."""

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
        return cls(
            thread_id=state.thread_id,
            workflow_id=state.workflow_id,
            mailbox=state.mailbox,
            status=state.status,
            subject=state.subject,
            message_ids=list(state.message_ids),
            participants=list(state.participants),
            flow=state.flow,
            stage=state.stage,
            message_count=state.message_count,
        )


class OutboundEmail(Frozen):
    """A mail mailroom sends; its Message-ID is fixed before sending (idempotency key)."""

    message_id: str
    from_addr: str
    to: tuple[str, ...]
    subject: str
    text: str
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    reply_to: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)


class SendResult(Frozen):
    message_id: str
    already_sent: bool


class OutboxEntry(Frozen):
    message_id: str
    to: list[str]
    subject: str
    in_reply_to: str | None
    references: list[str]
    reply_to: str | None
    sent_at: datetime
    from_addr: str = ""


class Ingested(Frozen):
    """What ingesting one raw mail did: the threads it was handed to."""

    message_id: str
    thread_ids: tuple[str, ...]
