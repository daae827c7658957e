"""One worker per registered flow, on the flow's own task queue, tuned by its settings.

The thread worker (bootstrap.thread_worker) keeps serving `mailroom-threads`; each flow this
process serves gets a worker of its own on its queue (`<MAILROOM_QUEUE_PREFIX><flow>-queue`),
registering the flow's workflow, its activities and those every worker serves
(bootstrap.worker_activities). A flow whose
settings name a schedule (FlowSpec.kept_schedule) has it created or updated at start.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import replace
from typing import Any

import structlog
from pydantic import ValidationError
from temporalio.client import Client
from temporalio.worker import Worker

from orchestrator.bootstrap import (
    WORKER_DRAIN_TIMEOUT,
    Wiring,
    with_each_once,
    worker_activities,
)
from orchestrator.flow_spec import FlowSpec, FlowWorkerSettings, env_prefix
from orchestrator.flows import FLOWS, flow_named
from orchestrator.schedules import ScheduleError, keep_schedule
from orchestrator.settings import SettingsError, describe_flow_error
from orchestrator.startup_checks import StartupError
from orchestrator.workflow_runner import WORKFLOW_INTERCEPTORS, WORKFLOW_RUNNER

log = structlog.get_logger()


class UnknownFlow(SettingsError):
    """`--flows` named a flow that is not registered."""


def flows_named(names: str | None, flows: Sequence[FlowSpec] = FLOWS) -> tuple[FlowSpec, ...]:
    """`a,b` → those registered flows (None: all); UnknownFlow names the first that is
    not registered, or says none was named (an empty `--flows "$FLOWS"` serves nothing
    rather than everything)."""
    if names is None:
        return tuple(flows)
    if not names.strip():
        known = ", ".join(f.name for f in flows)
        raise UnknownFlow(f"--flows: name at least one flow (registered: {known})")
    chosen = []
    for name in (part.strip() for part in names.split(",")):
        spec = flow_named(name, flows)
        if spec is None:
            known = ", ".join(f.name for f in flows)
            raise UnknownFlow(f"--flows: no flow named {name!r} (registered: {known})")
        if spec not in chosen:
            chosen.append(spec)
    return tuple(chosen)


def flow_settings(spec: FlowSpec) -> FlowWorkerSettings:
    try:
        return spec.read_settings()
    except ValidationError as exc:
        raise SettingsError(describe_flow_error(spec.name, exc)) from None


def tuning(settings: FlowWorkerSettings) -> dict[str, Any]:
    """The Worker's keyword arguments the settings set (unset: the SDK's default)."""
    chosen = {
        "max_concurrent_activities": settings.max_concurrent_activities,
        "max_concurrent_workflow_tasks": settings.max_concurrent_workflow_tasks,
        "max_cached_workflows": settings.max_cached_workflows,
    }
    return {name: value for name, value in chosen.items() if value is not None}


def flow_worker(
    wiring: Wiring, client: Client, spec: FlowSpec, settings: FlowWorkerSettings
) -> Worker:
    return Worker(
        client,
        task_queue=spec.queue_for(wiring.settings.queue_prefix),
        workflows=[spec.workflow],
        activities=with_each_once(
            [*worker_activities(wiring, client), *spec.activities(wiring, client)]
        ),
        graceful_shutdown_timeout=WORKER_DRAIN_TIMEOUT,
        workflow_runner=WORKFLOW_RUNNER,
        interceptors=WORKFLOW_INTERCEPTORS,
        # the flow's own tuning, else the process's (MAILROOM_MAX_CACHED_WORKFLOWS)
        **{"max_cached_workflows": wiring.settings.max_cached_workflows, **tuning(settings)},
    )


async def start_flow_workers(
    wiring: Wiring, client: Client, stack: AsyncExitStack, flows: Sequence[FlowSpec]
) -> list[Worker]:
    """Start a worker per flow (all settings read first: a bad one starts none), keep each
    flow's schedule, and drain them on stopping."""
    settings = [flow_settings(spec) for spec in flows]
    workers = [flow_worker(wiring, client, s, t) for s, t in zip(flows, settings, strict=True)]
    tasks = [asyncio.create_task(w.run(), name=f"worker {w.task_queue}") for w in workers]

    async def drain() -> None:
        await asyncio.gather(*(w.shutdown() for w in workers))
        await asyncio.gather(*tasks, return_exceptions=True)

    stack.push_async_callback(drain)
    for spec, flow_setting in zip(flows, settings, strict=True):
        kept = spec.kept_schedule(flow_setting)
        if kept is not None:
            prefix = wiring.settings.queue_prefix
            # its id under the installation's prefix, like its queue: two installations
            # in one namespace keep a schedule each
            kept = replace(kept, schedule_id=f"{prefix}{kept.schedule_id}")
            try:
                outcome = await keep_schedule(client, spec, kept, prefix)
            except ScheduleError as exc:  # e.g. a cron the server refuses: from its settings
                raise StartupError(f"{env_prefix(spec.name)}*: {exc}") from None
            log.info("schedule_kept", schedule=kept.schedule_id, flow=spec.name, outcome=outcome)
    return workers
