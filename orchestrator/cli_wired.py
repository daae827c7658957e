"""A CLI command that works on an installation's stores and its Temporal: the stores wired,
a client connected, the work run, the stores closed whatever happened."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from temporalio.client import Client

from orchestrator import bootstrap as wiring_module
from orchestrator.cli_errors import CliError
from orchestrator.runner import run_async
from orchestrator.settings import Settings

T = TypeVar("T")


def run_wired(
    settings: Settings, work: Callable[[wiring_module.Wiring, Client], Awaitable[T]]
) -> T:
    """Refuses a data directory that is not there: a mistyped one (or another machine's)
    would otherwise become an empty installation, its keys included, and the command would
    report that it found nothing."""
    if not settings.data_dir.is_dir():
        where = settings.data_dir
        raise CliError(f"MAILROOM_DATA_DIR: {where} is no installation's data directory")
    wiring = wiring_module.bootstrap(settings)

    async def run() -> T:
        try:
            return await work(wiring, await wiring_module.connect(settings))
        finally:
            await wiring_module.close_stores(wiring)

    result: T = run_async(run)
    return result
