"""The registry's routing facts as data: what a thread needs to pick and start a flow.

Built from `orchestrator/flows.py` by the worker and handed to the thread's workflow by an
activity, so the choice is recorded in the thread's history (a new flow registered later
does not change how a recorded thread replays).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from use_cases.models import AgentUsage, FlowConfig, FlowEntry

__all__ = ["FlowCatalogue", "FlowEntry", "FlowSettings", "Route", "RouteRequest"]


class FlowCatalogue(BaseModel):
    flows: tuple[FlowEntry, ...] = ()

    def named(self, name: str) -> FlowEntry | None:
        return next((f for f in self.flows if f.name == name), None)

    def by_mailbox(self, mailbox: str) -> FlowEntry | None:
        """The flow a mailbox's local part names (procurement@, invoices@ …), if any."""
        local = mailbox.split("@")[0].lower()
        return next(
            (f for f in self.flows if f.threaded and any(k in local for k in f.mailboxes)), None
        )

    def by_label(self, label: str) -> FlowEntry | None:
        return next((f for f in self.flows if f.threaded and label in f.labels), None)

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(label for f in self.flows if f.threaded for label in f.labels)


class RouteRequest(BaseModel):
    """Which flow takes a thread's first human mail (or a thread started for `flow`)."""

    mailbox: str
    subject: str
    text: str
    flow: str | None = None  # asked for by name: `mailroom start`, a reopened thread
    # The thread would run an inline flow with the settings the route brings (history
    # format 3, workflows/versions.py): the flow then asks for them in no activity of its own.
    with_settings: bool = False


# The FlowConfig fields that belong to a flow, read by the worker that runs it (the rest
# — caps, acknowledgement delay, modes — belong to the thread, from the process that
# received the mail).
FLOW_OWN_FIELDS = frozenset(
    {
        "approvers",
        "auto_approve_limit",
        "approval_reminder_after",
        "approval_expires_after",
        "support_team",
        "sla_reminder_after",
        "sla_auto_close_after",
        "kb_confidence",
        "extraction_confidence",
        "budget_per_cost_centre",
    }
)


class FlowSettings(BaseModel):
    """A flow's settings as the worker running it read them at its start: recorded in the
    flow's history (a local activity), so a flow sees a changed setting once a worker
    restarted with it, and replays with what it saw."""

    config: FlowConfig
    own: dict[str, Any] = Field(default_factory=dict)  # its MAILROOM_<FLOW>_* settings

    def applied_to(self, config: FlowConfig) -> FlowConfig:
        return config.model_copy(update=self.config.model_dump(include=set(FLOW_OWN_FIELDS)))


class Route(BaseModel):
    entry: FlowEntry | None = None  # None: no registered flow takes it, a person does
    reason: str = ""
    usage: AgentUsage | None = None
    # The chosen inline flow's settings, from the worker that will run it (the route ran as
    # its local activity), when the request asked: recorded with the route, they are what
    # the flow's first run sees (FlowStart.settings).
    settings: FlowSettings | None = None
