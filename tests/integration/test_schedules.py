"""Flows on Temporal Schedules, on a real dev server: `mailroom schedule` and the digest."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from orchestrator.digest import DIGEST_SCHEDULE
from orchestrator.flow_spec import KeptSchedule
from orchestrator.flows import flow_named
from orchestrator.schedules import keep_schedule
from orchestrator.startup_checks import StartupError
from tests.integration.test_cli import cli_env
from tests.integration.test_smtp_end_to_end import fixture, unique_ids
from tests.stack import Stack, running_stack, sent_text, stack_settings
from tests.support import run_mailroom, wait_for
from use_cases.digest import DigestInput
from use_cases.models import ThreadStatus


def digests_to(stack: Stack, address: str) -> int:
    return sum(address in e.to for e in stack.wiring.outbox.entries())


async def actions(client: Client, name: str) -> int:
    return (await client.get_schedule_handle(name).describe()).info.num_actions


async def schedule(env: dict[str, str], *args: str) -> str:
    code, out, err = await run_mailroom("schedule", *args, env=env)
    assert code == 0, err
    return out


async def test_each_firing_of_a_digest_schedule_mails_the_digest_once(
    stack: Stack, dev_server: WorkflowEnvironment, unique: str
) -> None:
    env, name, ops = cli_env(stack), f"digest-{unique}", f"ops-{unique}@example.com"
    question = unique_ids(fixture("support_question.eml"), unique)
    await stack.send(question, ["support@mailroom.local"])
    (open_thread,) = await wait_for(lambda: stack.gateway.list(ThreadStatus.OPEN), what="thread")
    create = ("create", name, "--flow", "digest", "--cron", "0 7 * * *", "--field", f"to={ops}")
    assert await schedule(env, *create) == f"schedule {name}: created\n"
    try:
        for firing in (1, 2):
            await schedule(env, "trigger", name)
            await wait_for(once_each(stack, ops, firing), what=f"digest {firing}")
        digest = next(e for e in stack.wiring.outbox.entries() if ops in e.to)
        assert digest.subject.startswith("mailroom digest: 1 open")
        text = sent_text(stack, digest.message_id)
        assert f"#{open_thread.reference}" in text and "Printer on fire" in text
        assert await actions(dev_server.client, name) == 2
        listed = json.loads(await schedule(env, "list", "--json"))
        row = next(r for r in listed if r["name"] == name)
        assert (row["flow"], row["when"], row["paused"]) == ("digest", "cron 0 7 * * *", False)
        assert row["next_run"].endswith("T07:00:00+00:00")
    finally:
        await schedule(env, "delete", name)
    assert digests_to(stack, ops) == 2


async def test_an_interval_schedule_fires_while_a_paused_one_does_not(
    stack: Stack, dev_server: WorkflowEnvironment, unique: str
) -> None:
    env, client = cli_env(stack), dev_server.client
    running, paused = f"every-{unique}", f"paused-{unique}"
    every_second = ("--flow", "digest", "--every", "1s", "--field")
    # created paused: paused by a second command, it could fire in between on a busy machine
    await schedule(env, "create", paused, *every_second, f"to={paused}@example.com", "--paused")
    await schedule(env, "create", running, *every_second, f"to={running}@example.com")
    try:
        await wait_for(lambda: fired_at_least(client, running, 3), what="3 firings")
        await schedule(env, "pause", running)
        fired = await actions(client, running)
        await wait_for(lambda: digests_to(stack, f"{running}@example.com") == fired, what="mail")
        # the same window: one schedule fired 3 times, the paused one never
        assert await actions(client, paused) == 0
        assert digests_to(stack, f"{paused}@example.com") == 0
        assert "paused" in await schedule(env, "list")
    finally:
        for name in (running, paused):
            await schedule(env, "delete", name)


async def fired_at_least(client: Client, name: str, wanted: int) -> bool:
    return await actions(client, name) >= wanted


def once_each(stack: Stack, address: str, firings: int) -> Callable[[], bool]:
    return lambda: digests_to(stack, address) == firings


async def test_schedule_mistakes_are_one_line_and_exit_2(stack: Stack, unique: str) -> None:
    env = cli_env(stack)
    to = "to=ops@example.com"
    cases = {
        ("--flow", "nope", "--every", "1h", "--field", to): "--flow: no flow named 'nope'",
        ("--flow", "procurement", "--every", "1h"): "runs inside a mail thread",
        ("--flow", "digest", "--cron", "61 7 * *", "--field", to): "Invalid schedule spec",
        ("--flow", "digest", "--every", "1h", "--field", "to=nobody"): "--field to: ",
        ("--flow", "digest", "--every", "1h", "--field", "cc=x"): "--field",
        ("--flow", "digest", "--every", "soon", "--field", to): "--every: 'soon'",
    }
    for args, said in cases.items():
        code, out, err = await run_mailroom("schedule", "create", f"bad-{unique}", *args, env=env)
        assert (code, out) == (2, ""), err
        assert said in err and err.count("\n") == 1, err
    code, _, err = await run_mailroom("schedule", "trigger", f"none-{unique}", env=env)
    assert (code, err) == (2, f"mailroom: no schedule named 'none-{unique}'\n")


async def test_a_schedule_takes_its_input_from_a_file_and_its_name_once(
    stack: Stack, tmp_path: Path, unique: str
) -> None:
    env, name = cli_env(stack), f"file-{unique}"
    given = tmp_path / "digest.json"
    given.write_text(json.dumps({"to": ["ops@example.com"]}))
    create = ("create", name, "--flow", "digest", "--every", "1d", "--input", str(given))
    assert json.loads(await schedule(env, *create, "--json")) == {"name": name, "action": "created"}
    try:
        code, _, err = await run_mailroom("schedule", *create, env=env)
        assert (code, err) == (2, f"mailroom: a schedule named '{name}' exists already\n")
        listed = json.loads(await schedule(env, "list", "--json"))
        assert next(r for r in listed if r["name"] == name)["when"] == "every 1d"
    finally:
        await schedule(env, "delete", name)


async def test_a_kept_schedule_is_created_then_updated_only_when_it_changed(
    dev_server: WorkflowEnvironment, unique: str
) -> None:
    spec = flow_named("digest")
    assert spec is not None
    wanted = KeptSchedule(f"kept-{unique}", "0 7 * * *", DigestInput(to=("ops@example.com",)))
    client = dev_server.client
    try:
        assert await keep_schedule(client, spec, wanted) == "created"
        await client.get_schedule_handle(wanted.schedule_id).pause()
        assert await keep_schedule(client, spec, wanted) == "unchanged"
        later = KeptSchedule(wanted.schedule_id, "0 8 * * *", wanted.input)
        assert await keep_schedule(client, spec, later) == "updated"
        described = await client.get_schedule_handle(wanted.schedule_id).describe()
        assert described.schedule.state.paused  # the operator's pause stays
        assert described.schedule.spec.calendars[0].hour[0].start == 8
    finally:
        await client.get_schedule_handle(wanted.schedule_id).delete()


async def test_a_worker_serving_the_digest_keeps_its_schedule_while_someone_is_to_get_it(
    dev_server: WorkflowEnvironment,
    tmp_path: Path,
    task_queue: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = dev_server.client
    settings = stack_settings(tmp_path / "data", client, task_queue)
    # the schedule's id under the installation's prefix, as its queue
    handle = client.get_schedule_handle(f"{settings.queue_prefix}{DIGEST_SCHEDULE}")
    monkeypatch.setenv("MAILROOM_DIGEST_TO", "ops@example.com")
    monkeypatch.setenv("MAILROOM_DIGEST_CRON", "15 6 * * *")
    try:
        async with running_stack(client, settings):
            described = await handle.describe()
        assert described.schedule.spec.calendars[0].hour[0].start == 6
        queue = f"{settings.queue_prefix}digest-queue"
        assert getattr(described.schedule.action, "task_queue", None) == queue
    finally:
        await handle.delete()
    monkeypatch.delenv("MAILROOM_DIGEST_TO")
    async with running_stack(client, settings):  # off: nothing is created
        pass
    with pytest.raises(RPCError):
        await handle.describe()
    monkeypatch.setenv("MAILROOM_DIGEST_TO", "ops@example.com")
    monkeypatch.setenv("MAILROOM_DIGEST_CRON", "61 * * * *")  # five fields, but no minute 61
    # caught with the settings, before Temporal is asked: the variable named
    with pytest.raises(StartupError, match=r"^MAILROOM_DIGEST_CRON: '61': the minute is 0-59$"):
        async with running_stack(client, settings):
            pass
