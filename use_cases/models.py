"""Models that cross boundaries: adapters → use cases → Temporal → activities.

Every workflow, signal, query and activity takes one of these in and gives one out, so the
pydantic data converter can (de)serialise them and their shape is checked at every edge.
Here: threads, the messages they receive, flows; mail itself is in use_cases/mail.py.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from use_cases.mail import Attachment, BlobRef, DeliveryReport, Frozen, MessageKind
from use_cases.reply_cap import ReplyLog

# A signal carries at most this much body text; the rest stays in the raw mail (the blob
# store and claim-check of the real-world-mail issue replace this cut).
MAX_SIGNAL_TEXT_CHARS = 32_000


class ThreadKey(Frozen):
    """Which thread a message belongs to, and the rule that decided it."""

    mailbox: str
    key: str
    rule: str
    workflow_id: str


class ThreadEntry(Frozen):
    """What the thread index learns from one message placed in a thread."""

    workflow_id: str
    message_ids: tuple[str, ...] = ()
    subject_key: str = ""
    participants: tuple[str, ...] = ()
    at: datetime
    reference: str = ""  # the thread's ticket reference (use_cases/tickets.py)
    blobs: tuple[str, ...] = ()  # the sha256 of the blobs its mail stored (retention, erasure)


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
    # Real-world mail; all optional so older payloads still deserialise.
    kind: MessageKind = MessageKind.HUMAN
    new_text: str = ""
    text_blob: BlobRef | None = None
    raw_blob: BlobRef | None = None
    attachments: tuple[Attachment, ...] = ()
    report: DeliveryReport | None = None
    defects: tuple[str, ...] = ()
    reply_address: str = Field(
        default="", description="where replies should go: the mailbox + signed thread token"
    )
    reply_target: str | None = Field(
        default=None,
        description="where automatic mail about this message may go (use_cases/reply_target.py)"
        "; empty: nowhere; None: not worked out (recorded before there was this field)",
    )
    decided_by: str = Field(
        default="",
        description="the sender, when this mail came to the signed decision address made for "
        "that sender (use_cases/decision_channel.py); only then can it decide an approval",
    )
    from_authenticated: bool = Field(
        default=False,
        description="the operator's MTA vouched for the From: address's domain (RFC 8601)",
    )
    content_digest: str = Field(
        default="",
        description="what stays the same when the same mail is delivered again (its body and "
        "originating headers, not its trace): a Message-ID reused by other content differs",
    )
    # Started by `mailroom start FLOW` or a schedule, not by mail: the flow to run and its
    # input, validated by the flow's input model before the thread was started.
    flow: str | None = None
    flow_input: dict[str, Any] | None = None
    decision_request: str = Field(
        default="", description="which approval request that signed address was made for"
    )


def answer_address(message: NewMessage) -> str:
    """Where automatic mail about `message` goes; "" for nowhere."""
    return message.from_addr if message.reply_target is None else message.reply_target


class CompleteRequest(Frozen):
    """Payload of the COMPLETE_THREAD signal."""

    reason: str = "completed by operator"
    requested_by: str = "cli"
    # `mailroom stop`: the flow tells its requester it was stopped by an operator
    tell_requester: bool = False


class HumanReply(Frozen):
    """A person's answer in a thread (`mailroom reply`, or a support agent's reply to an
    escalation through their signed address): sent to the customer as the thread's answer."""

    text: str
    by: str  # the operator or agent name shown in the thread's history
    close: bool = False  # complete the thread once the reply went out
    # fixed by the caller before signalling, so a retried command never sends twice
    message_id: str
    at: datetime | None = None


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
    content_digest: str = ""
    collision: bool = False  # another mail that reused an earlier one's Message-ID


class StageChange(BaseModel):
    stage: str
    at: datetime
    note: str = ""


class DeliveryFailureDetails(Frozen):
    """Carried in a non-retryable activity failure from the sender to the workflow."""

    status: str
    reason: str
    recipients: tuple[str, ...] = ()


class DeliveryFailure(BaseModel):
    """A mail of ours that will not arrive: a 5xx from the relay, or a bounce that came back."""

    message_id: str | None
    recipients: tuple[str, ...] = ()
    status: str = ""
    reason: str = ""
    source: str = "relay"
    at: datetime


class RefusedDecision(Frozen):
    """An emailed approve/reject that did not come through the sender's signed decision
    address (use_cases/decision_channel.py): recorded, never acted on."""

    message_id: str
    from_addr: str
    approved: bool
    at: datetime
    why: str = ""


MAX_REFUSED_DECISIONS = 20


def remember_refused(
    kept: list[RefusedDecision], attempt: RefusedDecision
) -> list[RefusedDecision]:
    if any(k.message_id == attempt.message_id for k in kept):
        return kept
    return [*kept, attempt][-MAX_REFUSED_DECISIONS:]


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
    message_id_collisions: int = 0
    acknowledged: bool = False
    replies_sent: list[str] = Field(default_factory=list)
    flow: str | None = None
    stage: str | None = None
    flow_mode: str | None = None
    flow_workflow_id: str | None = None
    flow_finished: bool = False
    flows_started: int = 0
    flow_report_seq: int = 0  # the `seq` of the child flow's last report applied
    pending_approval: bool = False
    # what the flow found, by its own names (a purchase order's number, an invoice's
    # supplier …), validated by the flow's facts model; shown by its FlowSpec
    facts: dict[str, Any] = Field(default_factory=dict)
    flow_entry: FlowEntry | None = None  # the registry's entry the current flow started by
    history: list[StageChange] = Field(default_factory=list)
    delivery_failures: list[DeliveryFailure] = Field(default_factory=list)
    refused_decisions: list[RefusedDecision] = Field(default_factory=list)
    runs: int = 1
    reopened: int = 0
    completed_reason: str | None = None
    # For people: the short ticket reference shown in subjects ("[#K7Q2MX]"), who wrote
    # first, and when the thread last received or sent mail (use_cases/tickets.py).
    reference: str = ""
    requester: str = ""
    last_activity: datetime | None = None
    human_replies: int = 0
    agent_tokens: int = 0  # what the current flow's agent calls used (FlowProgress)
    # the thread's signed reply address, for a human reply the thread sends itself
    reply_address: str = ""
    # where a person's reply goes: answer_address() of the first human mail ("": nowhere,
    # a null, no-reply or list sender; None: a thread from before this field)
    answer_to: str | None = None


class FlowMode(StrEnum):
    CHILD = "child"
    INLINE = "inline"


class FlowEntry(BaseModel):
    """A registered flow as a thread sees it (use_cases/flow_catalogue.py): data only."""

    name: str
    workflow_type: str  # the child workflow's type name
    runtime: str = ""  # the flow logic, `module:Class`, for inline runs
    task_queue: str
    mode: FlowMode = FlowMode.CHILD
    mailboxes: tuple[str, ...] = ()  # local-part keywords: procurement@, invoices@ …
    labels: tuple[str, ...] = ()  # classifier labels
    threaded: bool = True


class FlowConfig(BaseModel):
    """Everything a flow needs from settings, passed in by the gateway (workflows read no env)."""

    model_config = ConfigDict(frozen=True)

    modes: dict[str, FlowMode] = Field(
        default_factory=lambda: {"procurement": FlowMode.CHILD, "support": FlowMode.INLINE}
    )
    approvers: tuple[str, ...] = ()
    auto_approve_limit: float = 1_000.0
    approval_reminder_after: timedelta = timedelta(days=1)
    approval_expires_after: timedelta = timedelta(days=3)
    support_team: str = ""
    sla_reminder_after: timedelta = timedelta(days=2)
    sla_auto_close_after: timedelta = timedelta(days=5)
    kb_confidence: float = 0.5
    search_attributes: bool = False
    # the subject and requester among them (MAILROOM_SEARCHABLE_SUBJECTS, off by default:
    # search attributes are stored in clear). True here: a thread started before the setting
    # existed has no such field in its recorded input and keeps upserting what it did.
    searchable_subjects: bool = True
    # the agent runs in the worker's process (no agent URL): flows ask it by local activity
    agent_in_process: bool = False
    # replies go to the built-in outbox (no SMTP relay): flows write them by local activity
    outbox_in_process: bool = False
    # at most this many automatic mails to one address per window, per thread: a robot that
    # ignores Auto-Submitted and answers every answer cannot ping-pong with us
    auto_reply_cap: int = 5
    auto_reply_window: timedelta = timedelta(hours=1)
    # a child flow continues-as-new after this many messages (well before Temporal's limits)
    flow_messages_per_run: int = 500
    # a thread's first human mail is acknowledged only if its flow has not mailed the
    # requester within this delay (0: acknowledged at once)
    ack_delay: timedelta = timedelta(seconds=30)
    # a thread of automatic mail only, with no flow, completes this long after its first
    # such mail (a burst lands in one run); no setting: tests shorten it
    automatic_grace: timedelta = timedelta(minutes=1)
    # below this extraction confidence the requester confirms the parsed order first
    extraction_confidence: float = 0.8
    # a cost centre's monthly budget, all orders together (None: none, and no budget lane)
    budget_per_cost_centre: float | None = None
    # the mailboxes the thread metrics name (MAILROOM_MAILBOXES, the IMAP sources'): any
    # other is `other`; without a list every local part at our domains is a mailbox, and a
    # label value per address a sender makes up would grow without bound
    counted_mailboxes: tuple[str, ...] = ()

    def mode_of(self, flow: str) -> FlowMode:
        return self.modes.get(flow, FlowMode.INLINE)


PRIORITIES = ("high", "normal")


class AgentUsage(BaseModel):
    """What one agent answer cost (a model's tokens); zero for the offline agent."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class Triage(BaseModel):
    category: str
    # The agent's free answer goes into a subject and a stage: anything but a known priority
    # is "normal". A validator, not a Literal, so a recorded activity result with another
    # value still decodes on replay (the commands a workflow makes do not change).
    priority: str = "normal"
    usage: AgentUsage | None = None

    @field_validator("priority", mode="before")
    @classmethod
    def _known_priority(cls, value: object) -> str:
        chosen = str(value).strip().lower()
        return chosen if chosen in PRIORITIES else "normal"


class FlowProgress(BaseModel):
    """What a flow shows its thread: reported inline or by signal from a child workflow."""

    flow: str
    stage: str
    finished: bool = False
    pending_approval: bool = False
    facts: dict[str, Any] = Field(default_factory=dict)
    history: list[StageChange] = Field(default_factory=list)
    delivery_failures: list[DeliveryFailure] = Field(default_factory=list)
    refused_decisions: list[RefusedDecision] = Field(default_factory=list)
    agent_tokens: int = 0  # tokens the flow's agent calls used, summed (AgentUsage)
    # Message-IDs of the human replies (HUMAN_REPLY, a support agent's answer) the flow
    # sent, the latest few: the thread records each once, the flow sends each once.
    human_replies: list[str] = Field(default_factory=list)
    # the flow has mailed the requester: the thread's acknowledgement is not needed
    answered: bool = False
    # Counts the stages a flow passed, across its continue-as-new (the snapshot carries it).
    seq: int = 0
    # The child flow's workflow id, on reports sent by local activity: a retried one can
    # arrive again or late, and must not touch a thread that has moved on (see `seq`) or
    # on to another flow.
    reporter: str | None = None
    # On a child's last report only: the keys (use_cases/forwarding.py delivery_key) of the
    # mail it took, the latest few hundred. A thread whose forward found the child closed
    # learns from them whether the child took that mail before it closed.
    took: list[str] = Field(default_factory=list)


class FlowSnapshot(BaseModel):
    """A resumable flow's state at an idle point (waiting for a message), so the workflow
    that runs it can continue-as-new without the flow starting over."""

    progress: FlowProgress
    mails_sent: int
    replies: ReplyLog
    first: NewMessage
    last_message: NewMessage
    pending: list[NewMessage] = Field(default_factory=list)
    # what the flow itself keeps, by its own model (support: its SupportMemory)
    own: dict[str, Any] = Field(default_factory=dict)
    # a close asked for while the flow rested (a reply with --close, COMPLETE_THREAD): the
    # flow resumed in the next run still ends
    complete_requested: bool = False
    completion: CompleteRequest | None = None
    closed_by: str | None = None
    # a child flow's mail taken (delivery keys): a forward sent again is still dropped
    taken: list[str] = Field(default_factory=list)


class ThreadInput(Frozen):
    """Workflow input; `state` is set when continuing-as-new or reopening a completed thread."""

    thread_id: str
    mailbox: str
    state: ThreadState | None = None
    pending: tuple[NewMessage, ...] = ()
    messages_per_run: int = 0
    flow_config: FlowConfig = Field(default_factory=lambda: FlowConfig())
    flow_resume: FlowSnapshot | None = None
    # A completed thread's state written again without an erased person: the run completes
    # at once with it (workflows/thread.py), so a later reopen starts from it.
    rewrite: bool = False
    # The workflow code's history format the run was started for (workflows/versions.py
    # HISTORY_FORMAT); a run started before formats were named has none: 1.
    history_format: int = 1


class Ingested(Frozen):
    """What ingesting one raw mail did: the threads it was handed to."""

    message_id: str
    thread_ids: tuple[str, ...]
