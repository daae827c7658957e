"""FlowSpec: everything the service needs to know about one flow, in one value.

A flow lives in its own files (models and rules in `use_cases/`, workflow code in
`workflows/`, activities in `activities/`) and is made known to the service by one
`FlowSpec` line in `orchestrator/flows.py`; nothing else names it. The thread learns the
registry's routing facts through `use_cases.flow_catalogue.FlowEntry` (data, recorded in
its history); the worker that serves a flow's task queue reads the flow's settings.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from use_cases.flow_catalogue import FlowEntry
from use_cases.models import FlowMode

if TYPE_CHECKING:
    from temporalio.client import Client

    from orchestrator.bootstrap import Wiring

ActivityFactory = Callable[["Wiring", "Client"], Sequence[Callable[..., Any]]]
FactsView = Callable[[Mapping[str, Any]], list[tuple[str, str]]]


class FlowWorkerSettings(BaseSettings):
    """What every flow's settings model holds: the tuning of the worker that serves the
    flow's task queue, read as `MAILROOM_<FLOW>_*` (`MAILROOM_DIGEST_MAX_CONCURRENT_ACTIVITIES`)
    by that worker. None: the SDK's default (100, 100, 1000)."""

    # the prefix is given when a worker reads them (FlowSpec.read_settings); made directly,
    # they read no variable ("<" cannot start a variable's name part)
    model_config = SettingsConfigDict(env_prefix="MAILROOM_<FLOW>_", extra="forbid")

    max_concurrent_activities: int | None = Field(default=None, gt=0)
    max_concurrent_workflow_tasks: int | None = Field(default=None, ge=2)
    max_cached_workflows: int | None = Field(default=None, ge=0)


class NoSettings(FlowWorkerSettings):
    """A flow without settings of its own (its worker's tuning only)."""


@dataclass(frozen=True)
class KeptSchedule:
    """A schedule a flow's worker keeps in place at start: created, or updated when its cron
    or input changed (the digest's `mailroom-digest`)."""

    schedule_id: str
    cron: str
    input: BaseModel


def env_prefix(flow: str) -> str:
    """`digest` → `MAILROOM_DIGEST_`: where a flow's settings are read from."""
    return f"MAILROOM_{flow.upper().replace('-', '_')}_"


class NoInput(BaseModel):
    """A flow that cannot be started without mail."""


def plain_facts(facts: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Facts shown as they are, `key: value`, in key order."""
    return [(key, str(value)) for key, value in sorted(facts.items()) if value not in (None, "")]


@dataclass(frozen=True)
class FlowSpec:
    """One registered flow.

    name        the flow's name: in `mailroom flows`, `MAILROOM_FLOW_MODES`, search attributes
    workflow    its child-workflow class (`@workflow.defn`); also what `mailroom start` and
                schedules start
    runtime     its flow logic (a `workflows.flow.FlowRuntime`), run by `workflow` as a child
                or inside the thread's workflow (inline); None for a flow that runs alone
    activities  its activities, built over the wiring's ports, served on its task queue
    settings    its settings model (a FlowWorkerSettings): `MAILROOM_<NAME>_*` variables,
                read by its worker
    input       what `mailroom start FLOW` and a schedule give it (validated)
    mailboxes   local-part keywords of the mailboxes whose mail it takes (`invoices`)
    labels      the classifier labels that route mail to it
    mode        child (own workflow and history) or inline (inside the thread), by default
    task_queue  where its workflow and activities run; default `<name>-queue`
    threaded    False: started alone (no mail thread), e.g. a scheduled digest
    facts       how its facts show in `mailroom thread`
    kept_schedule  the schedule its worker keeps in place, given its settings
    """

    name: str
    workflow: type
    runtime: type | None = None
    activities: ActivityFactory = lambda wiring, client: ()
    settings: type[FlowWorkerSettings] = NoSettings
    input: type[BaseModel] = NoInput
    mailboxes: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    mode: FlowMode = FlowMode.CHILD
    task_queue: str = ""
    threaded: bool = True
    facts: FactsView = plain_facts
    description: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)
    # a schedule its worker keeps, from the flow's settings (None: none)
    kept_schedule: Callable[[Any], KeptSchedule | None] = lambda settings: None

    @property
    def queue(self) -> str:
        return self.task_queue or f"{self.name}-queue"

    def queue_for(self, prefix: str) -> str:
        """Its task queue under `MAILROOM_QUEUE_PREFIX` (installations sharing a namespace)."""
        return f"{prefix}{self.queue}"

    @property
    def settings_variables(self) -> set[str]:
        """The `MAILROOM_<NAME>_*` variables its settings model reads."""
        prefix = env_prefix(self.name)
        return {f"{prefix}{name.upper()}" for name in self.settings.model_fields}

    def read_settings(self) -> FlowWorkerSettings:
        """Its settings from the environment (ValidationError when one is bad)."""
        return self.settings(_env_prefix=env_prefix(self.name))

    def entry(self, mode: FlowMode | None = None, prefix: str = "") -> FlowEntry:
        """What a thread needs to route mail to this flow and start it (data only)."""
        return FlowEntry(
            name=self.name,
            workflow_type=_workflow_type(self.workflow),
            runtime=_import_path(self.runtime) if self.runtime else "",
            task_queue=self.queue_for(prefix),
            mode=mode or self.mode,
            mailboxes=self.mailboxes,
            labels=self.labels or (self.name,),
            threaded=self.threaded,
        )


def _import_path(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _workflow_type(cls: type) -> str:
    from temporalio.workflow import _Definition

    definition = _Definition.from_class(cls)
    if definition is None or definition.name is None:
        raise TypeError(f"{cls.__name__} is not a @workflow.defn class")
    return definition.name
