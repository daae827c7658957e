"""`mailroom flows`, `mailroom start` and `mailroom stop` against a real dev server and
worker, run as the `mailroom` process would be."""

from __future__ import annotations

import dataclasses
import json
import uuid

from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from orchestrator.cli_flows import start_alone
from orchestrator.flow_checks import unserved_flows
from orchestrator.flows import FLOWS
from tests.integration.test_cli import cli_env, threads_json
from tests.stack import Stack, sent_text
from tests.support import run_mailroom, wait_for
from use_cases.support_input import SupportInput

# Each test starts a purchase of its own budget: the same purchase by the same operator is
# the same thread (idempotent), and the tests share one dev server.
PURCHASE = ("--field", "requester=bob@example.com", "--field", "items=2 x laptop stand")


async def flows_json(env: dict[str, str]) -> dict[str, object]:
    code, out, err = await run_mailroom("flows", "--json", env=env)
    assert code == 0, err
    return dict(json.loads(out))


async def thread_json(env: dict[str, str], thread_id: str) -> dict[str, object]:
    code, out, err = await run_mailroom("thread", thread_id, "--json", env=env)
    assert code == 0, err
    return dict(json.loads(out))


async def start(env: dict[str, str], *fields: str) -> str:
    code, out, err = await run_mailroom("start", "procurement", *fields, env=env)
    assert code == 0, err
    return out.split()[0]


async def test_flows_lists_every_flow_and_the_pollers_of_the_served_thread_queue(
    stack: Stack,
) -> None:
    env = cli_env(stack)

    async def polled() -> dict[str, object] | None:
        shown = await flows_json(env)
        threads = shown["threads"]
        assert isinstance(threads, dict)
        flows = shown["flows"]
        assert isinstance(flows, list)
        served = threads["workflow_pollers"] and all(f["served"] for f in flows)
        return shown if served else None

    shown = await wait_for(polled, what="the worker's pollers on every flow's queue")
    flows = shown["flows"]
    assert isinstance(flows, list)
    prefix = stack.wiring.settings.queue_prefix
    assert [f["name"] for f in flows] == [f.name for f in FLOWS]
    assert {f["task_queue"] for f in flows} == {f.queue_for(prefix) for f in FLOWS}
    assert all(isinstance(f["workflow_pollers"], int) for f in flows)
    code, out, err = await run_mailroom("flows", env=env)
    assert code == 0 and "procurement" in out and stack.wiring.settings.task_queue in out
    for flow in flows:
        if not flow["served"]:
            assert f"WARNING {flow['name']}: no worker polls {flow['task_queue']}" in err


async def test_a_flow_nobody_serves_is_reported_unless_this_process_serves_it(
    stack: Stack, dev_server: WorkflowEnvironment
) -> None:
    lonely = dataclasses.replace(FLOWS[0], name="lonely", task_queue=f"nobody-{uuid.uuid4()}")
    settings = stack.wiring.settings
    queue = lonely.queue_for(settings.queue_prefix)
    found = await unserved_flows(dev_server.client, [lonely], settings)
    assert [(f.name, f.task_queue) for f in found] == [("lonely", queue)]
    assert found[0].warning == (
        f"lonely: no worker polls {queue}: its mail waits until one starts "
        "(mailroom worker --flows lonely)"
    )
    assert await unserved_flows(dev_server.client, [lonely], settings, {queue}) == []


async def test_start_procurement_opens_a_thread_once_however_often_it_runs(
    stack: Stack,
) -> None:
    env = cli_env(stack)
    waiting = await start(env, *PURCHASE, "--field", "budget=7100")  # waits for approval
    code, out, err = await run_mailroom(
        "start", "procurement", *PURCHASE, "--field", "budget=7100", env=env
    )
    assert code == 0, err
    assert out.split()[0] == waiting and "already started" in out

    thread_id = await start(env, *PURCHASE, "--field", "budget=300")
    assert thread_id.startswith("thread-procurement@mailroom.local-") and thread_id != waiting
    threads = await wait_for(
        lambda: _with(threads_json(env), thread_id), what="the started thread in the listing"
    )
    assert threads["subject"] == "Purchase request from bob@example.com"
    assert threads["requester"] == "bob@example.com"
    shown = await thread_json(env, thread_id)
    messages = shown["messages"]
    assert isinstance(messages, list) and len(messages) == 1
    assert messages[0]["message_id"].startswith("<start-")
    # the flow took the given request as it is: no extraction, no questions, ordered
    ordered = await wait_for(
        lambda: _at_stage(env, thread_id, "confirmed"), what="the started purchase ordered"
    )
    facts = ordered["facts"]
    assert isinstance(facts, dict) and str(facts["po_number"]).startswith("PO-")
    await wait_for(lambda: _completed(env, thread_id), what="the thread completed")
    # the same command once it is done: said so, not silently "already started"
    code, out, err = await run_mailroom(
        "start", "procurement", *PURCHASE, "--field", "budget=300", env=env
    )
    assert code == 2 and "is completed: change the input" in err and err.count("\n") == 1


async def test_our_own_mailbox_is_no_requester(stack: Stack) -> None:
    code, _, err = await run_mailroom(
        "start",
        "support",
        "--field",
        "requester=support@mailroom.local",
        "--field",
        "subject=Hello",
        "--field",
        "text=Loop?",
        env=cli_env(stack),
    )
    assert code == 2 and "one of mailroom's own mailboxes" in err


async def _completed(env: dict[str, str], thread_id: str) -> dict[str, object] | None:
    shown = await thread_json(env, thread_id)
    return shown if shown.get("status") == "completed" else None


async def test_stop_completes_a_thread_and_says_why(stack: Stack) -> None:
    env = cli_env(stack)
    thread_id = await start(env, *PURCHASE, "--field", "budget=5000")
    await wait_for(lambda: _with(threads_json(env), thread_id), what="the started thread")

    code, out, err = await run_mailroom(
        "stop", thread_id, "--reason", "ordered by phone", "--by", "alice", env=env
    )
    assert code == 0, err
    assert "stop requested by alice (stopped by an operator: ordered by phone)" in out

    async def closed() -> dict[str, object] | None:
        shown = await thread_json(env, thread_id)
        return shown if shown["status"] == "completed" else None

    shown = await wait_for(closed, what="the stopped thread completed")
    assert shown["completed_reason"] == "stopped by an operator: ordered by phone"
    code, out, err = await run_mailroom("thread", thread_id, env=env)
    assert "closed     stopped by an operator: ordered by phone" in out

    code, _, err = await run_mailroom("stop", thread_id, env=env)
    assert code == 2 and err.count("\n") == 1 and "is already completed" in err
    again = await run_mailroom("start", "procurement", *PURCHASE, "--field", "budget=5000", env=env)
    assert again[0] == 2 and "is completed: change the input" in again[2]
    assert (await thread_json(env, thread_id))["status"] == "completed"  # not reopened


async def test_terminate_ends_a_thread_at_once(
    stack: Stack, dev_server: WorkflowEnvironment
) -> None:
    env = cli_env(stack)
    thread_id = await start(env, *PURCHASE, "--field", "budget=7000")
    await wait_for(lambda: _at_stage(env, thread_id, "awaiting_approval"), what="the approval wait")
    child = (await stack.gateway.get(thread_id)).flow_workflow_id or ""

    code, out, err = await run_mailroom("stop", thread_id, "--terminate", env=env)
    assert code == 0, err
    assert "nobody is told" in err and "terminated by" in out
    for workflow_id in (thread_id, child):  # its child flow would go on mailing
        described = await dev_server.client.get_workflow_handle(workflow_id).describe()
        assert described.status == WorkflowExecutionStatus.TERMINATED, workflow_id
    shown = await thread_json(env, thread_id)  # listed and shown as ended, with the reason
    assert shown["status"] == "completed"
    assert str(shown["completed_reason"]).startswith("terminated: stopped by an operator")
    listed = await wait_for(lambda: _with(threads_json(env), thread_id), what="it listed")
    assert listed["status"] == "completed"


async def test_stopping_an_unknown_id_is_one_line_exit_2(stack: Stack) -> None:
    code, _, err = await run_mailroom("stop", "thread-nobody@x-0000", env=cli_env(stack))
    assert code == 2 and err.count("\n") == 1 and "no thread matches" in err


async def _with(listing: object, thread_id: str) -> dict[str, object] | None:
    threads = await listing  # type: ignore[misc]
    return next((t for t in threads if t["thread_id"] == thread_id), None)


async def test_stopping_a_threads_flow_stops_its_thread_and_tells_the_requester(
    stack: Stack,
) -> None:
    env = cli_env(stack)
    thread_id = await start(env, *PURCHASE, "--field", "budget=6000")

    async def waiting() -> str | None:
        state = await stack.gateway.get(thread_id)
        return state.flow_workflow_id if state.stage and "awaiting" in state.stage else None

    child_id = await wait_for(waiting, what="the purchase waiting for approval in a child flow")
    code, out, err = await run_mailroom(
        "stop", child_id, "--by", "alice", "--reason", "ordered elsewhere", env=env
    )
    assert code == 0, err
    assert f"{child_id} is a flow of thread {thread_id}: stopping the thread" in out

    async def told() -> str | None:
        entries = json.loads((await run_mailroom("outbox", "--json", env=env))[1])
        closing = [e["message_id"] for e in entries if "-closed-" in e["message_id"]]
        return closing[0] if closing else None

    text = sent_text(stack, await wait_for(told, what="the requester told"))
    assert "Your purchase request was closed by an operator (alice)." in text
    assert "\nReason: ordered elsewhere\n" in text and "expired" not in text


async def test_a_flow_started_alone_is_started_once_cancelled_by_stop_then_refused(
    stack: Stack, dev_server: WorkflowEnvironment
) -> None:
    # a flow that runs without a thread, on a queue nobody serves: it stays running
    alone = dataclasses.replace(
        FLOWS[1], name="digest", threaded=False, task_queue=f"nobody-{uuid.uuid4()}"
    )
    given = SupportInput(requester="a@example.com", subject="Weekly", text=str(uuid.uuid4()))
    settings = stack.wiring.settings
    started = await start_alone(settings, alone, given, "alice")
    workflow_id = started.split(":")[0]
    assert workflow_id.startswith("digest-") and "started by alice" in started
    assert "already started" in await start_alone(settings, alone, given, "alice")
    handle = dev_server.client.get_workflow_handle(workflow_id)
    assert (await handle.describe()).task_queue == alone.queue_for(settings.queue_prefix)

    env = cli_env(stack)
    code, out, err = await run_mailroom("stop", workflow_id, env=env)
    assert code == 0 and f"{workflow_id}: cancellation requested by" in out, err
    code, out, err = await run_mailroom("stop", workflow_id, "--terminate", env=env)
    assert code == 0 and "terminated by" in out, err
    assert (await handle.describe()).status == WorkflowExecutionStatus.TERMINATED
    code, _, err = await run_mailroom("stop", workflow_id, env=env)
    assert code == 2 and f"{workflow_id} is already terminated" in err


async def _at_stage(env: dict[str, str], thread_id: str, stage: str) -> dict[str, object] | None:
    shown = await thread_json(env, thread_id)
    return shown if shown.get("stage") == stage else None
