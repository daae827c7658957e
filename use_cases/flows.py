"""Models and pure rules of the business flows (procurement, support) a thread runs."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from use_cases.flow_catalogue import FlowEntry, FlowSettings
from use_cases.models import (
    AgentUsage,
    CompleteRequest,
    FlowConfig,
    FlowMode,
    FlowProgress,
    FlowSnapshot,
    NewMessage,
    Triage,
)

__all__ = ["AgentUsage", "FlowConfig", "FlowMode", "FlowProgress", "FlowSnapshot", "Triage"]


class FlowName(StrEnum):
    PROCUREMENT = "procurement"
    SUPPORT = "support"
    OTHER = "other"


class Classification(BaseModel):
    flow: str  # a registered flow's label, or "other"
    confidence: float = Field(ge=0, le=1)
    reason: str = ""
    usage: AgentUsage | None = None


class ClassifyRequest(BaseModel):
    mailbox: str
    subject: str
    text: str
    # the labels of the registered flows (empty: the classifier's own, procurement/support)
    labels: tuple[str, ...] = ()


class LineItem(BaseModel):
    description: str
    quantity: int = Field(ge=1)
    unit: str = ""  # "box", "licence", "kg"…; empty: pieces


class PurchaseRequest(BaseModel):
    requester: str
    items: list[LineItem] = Field(default_factory=list)
    budget: float | None = Field(default=None, ge=0)
    currency: str = "EUR"
    deadline: str | None = None
    supplier: str | None = None
    cost_centre: str | None = None
    text: str = ""
    # How sure the extraction is (1: every part read unambiguously). Below the flow's
    # threshold, or when `doubts` is not empty, the requester confirms before we order.
    confidence: float = Field(default=1.0, ge=0, le=1)
    doubts: list[str] = Field(default_factory=list)
    usage: AgentUsage | None = None

    @property
    def missing(self) -> list[str]:
        gaps = []
        if not self.items:
            gaps.append("the items and quantities")
        if self.budget is None:
            gaps.append("the budget")
        return gaps


class ExtractRequest(BaseModel):
    requester: str
    subject: str
    text: str


class PolicyDecision(BaseModel):
    allowed: bool
    needs_approval: bool = False
    reasons: list[str] = Field(default_factory=list)


class PurchaseOrder(BaseModel):
    po_number: str
    po_key: str
    thread_id: str
    requester: str
    total: float | None
    created_at: datetime
    items: list[LineItem] = Field(default_factory=list)


class CreatePurchaseOrder(BaseModel):
    po_key: str
    thread_id: str
    request: PurchaseRequest


class KbAnswer(BaseModel):
    answer: str | None = None
    confidence: float = Field(default=0.0, ge=0, le=1)
    article: str | None = None
    usage: AgentUsage | None = None


class ApprovalDecision(BaseModel):
    approved: bool
    by: str
    reason: str = ""


class FlowStart(BaseModel):
    """Input of a flow, as child workflow or inline: the thread, config and first message."""

    thread_id: str
    mailbox: str
    flow: str
    first: NewMessage
    config: FlowConfig
    # the registry's entry for the flow (its task queue: where its activities run)
    entry: FlowEntry | None = None
    # what `mailroom start` or a schedule gave the flow instead of mail (validated)
    input: dict[str, Any] | None = None
    parent_workflow_id: str | None = None
    # The thread had a flow before this one: it was completed and reopened, or its earlier
    # flow finished while it stayed open (mail came meanwhile).
    reopened: bool = False
    resume: FlowSnapshot | None = None
    # The history format of the run that runs the flow (workflows/versions.py): the thread's
    # for an inline flow, the child's own as a child workflow.
    history_format: int = 1
    # An inline flow's settings, brought by the thread's route from this worker (history
    # format 3): its first run takes them instead of asking (FlowRuntime.run_flow).
    settings: FlowSettings | None = None
    # Mail queued at the thread behind `first` when the flow opened, in the order it came
    # (history format 4): in the flow's inbox from its start, as if forwarded at once.
    queued: tuple[NewMessage, ...] = ()


class ProgressReport(BaseModel):
    """Where a child flow came to rest, for its thread (its FLOW_PROGRESS signal)."""

    workflow_id: str
    signal: str
    request_id: str  # the same on every attempt of one report: the server applies it once
    progress: FlowProgress


class SignalOutcome(BaseModel):
    delivered: bool  # False: no run of the workflow is open (it has completed)


# The stage a flow waits in for an approver (procurement, invoices): the MailroomStage value
# `mailroom status` counts.
AWAITING_APPROVAL = "awaiting_approval"
APPROVE_WORDS = re.compile(r"^\s*(approve|approved|yes,? approved?|ok,? approved?)\b", re.I)
REJECT_WORDS = re.compile(r"^\s*(reject|rejected|denied|decline|declined)\b", re.I)
SOLVED_WORDS = re.compile(
    r"\b(solved|resolved|fixed|works now|working now|that worked|all good|close (the|this) "
    r"(ticket|thread))\b",
    re.I,
)
# A part of each of SOLVED_WORDS' phrases, lower-case: ASCII text without any cannot match.
# The regex tries every position of each follow-up; `in` on the lowered text is a fraction of
# that (docs/performance.md). Only for ASCII text: there `lower` and re.I agree, where re.I
# also matches e.g. U+017F (long s) for "s".
SOLVED_HINTS = (
    "solved",
    "fixed",
    "works now",
    "working now",
    "that worked",
    "all good",
    "close th",
)


def flow_by_mailbox(mailbox: str) -> FlowName | None:
    """The flow a mailbox's name implies (procurement@, support@ …), if any."""
    local = mailbox.split("@")[0].lower()
    if any(k in local for k in ("procure", "purchas", "buy", "order")):
        return FlowName.PROCUREMENT
    if any(k in local for k in ("support", "help", "service")):
        return FlowName.SUPPORT
    return None


def emailed_decision(message: NewMessage) -> ApprovalDecision | None:
    """An approver's reply that starts with approve/reject is a decision (quoted text ignored)."""
    first_line = next((ln for ln in message.text.splitlines() if ln.strip()), "")
    if APPROVE_WORDS.match(first_line):
        return ApprovalDecision(approved=True, by=message.from_addr, reason=first_line.strip())
    if REJECT_WORDS.match(first_line):
        return ApprovalDecision(approved=False, by=message.from_addr, reason=first_line.strip())
    return None


def says_solved(message: NewMessage) -> bool:
    fresh = "\n".join(ln for ln in message.text.splitlines() if not ln.lstrip().startswith(">"))
    if fresh.isascii():
        lowered = fresh.lower()
        if not any(hint in lowered for hint in SOLVED_HINTS):
            return False
    return bool(SOLVED_WORDS.search(fresh))


# A follow-up saying our answer did not help: a human takes over instead of the same answer
# again. "still" alone counts ("still cannot log in"); a "solved" is checked before this.
NOT_HELPED_WORDS = re.compile(
    r"\b(did\s*n[o\u2019']?t\s+(help|work)|does\s*n[o\u2019']?t\s+(help|work)|"
    r"not\s+(helpful|working)|"
    r"no\s+help|still|same\s+problem|hat\s+nicht\s+geholfen|nicht\s+geholfen|"
    r"(funktioniert|geht|klappt)\s+(immer\s+)?noch\s+nicht|immer\s+noch)\b",
    re.I,
)
QUOTE_INTRO = re.compile(r"^\s*(on\s.+wrote|am\s.+schrieb.*):\s*$", re.I)


def unquoted(text: str) -> str:
    """`text` without quoted lines and the "On … wrote:" lines that introduce them."""
    lines = [
        ln
        for ln in text.splitlines()
        if not ln.lstrip().startswith(">") and not QUOTE_INTRO.match(ln)
    ]
    return "\n".join(lines).strip()


def fresh_text(message: NewMessage) -> str:
    """What the sender wrote in this mail: the parser's new text, else the unquoted text."""
    return message.new_text.strip() or unquoted(message.text)


def says_not_helped(message: NewMessage) -> bool:
    return bool(NOT_HELPED_WORDS.search(fresh_text(message)))


def team_addresses(team: str) -> tuple[str, ...]:
    """MAILROOM_SUPPORT_TEAM: one address or several, comma-separated (lower case)."""
    return tuple(dict.fromkeys(a.strip().lower() for a in team.split(",") if a.strip()))


def answer_keys(kb: KbAnswer) -> tuple[str, ...]:
    """What makes two knowledge-base answers the same answer: its article, its text."""
    text = hashlib.sha256((kb.answer or "").strip().encode()).hexdigest()[:16]
    return (f"text:{text}", *((f"article:{kb.article}",) if kb.article else ()))


class SupportMemory(BaseModel):
    """What a support flow carries across continue-as-new (FlowSnapshot.own): its triage,
    the wait for the customer, digests of the answers sent (never the same twice), the
    conversation so far (for the team's escalation notices) and the current escalation's
    notices."""

    triage: Triage | None = None
    waiting_since: datetime | None = None
    reminded: bool = False
    answers_sent: list[str] = Field(default_factory=list)
    conversation: list[str] = Field(default_factory=list)
    escalation_notices: int = 0


STOPPED = "stopped by an operator"


def stopped_by_operator(request: CompleteRequest) -> str:
    """What a requester is told when `mailroom stop` ends their thread: by an operator (who,
    when named), and why — never that it "expired"."""
    who = "" if request.requested_by in ("", "cli") else f" ({request.requested_by})"
    why = request.reason.removeprefix(STOPPED).lstrip(": ").strip()
    reason = f"\nReason: {why}" if why else ""
    return f"Your request was stopped by an operator{who}.{reason}\n"
