"""Threads read in the Temporal Web UI: summary, details and stage (workflow user metadata),
checked through the client and, where Chromium is installed, in a real headless browser."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import pytest
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from orchestrator.temporal_server import temporal_cli
from tests.browser import Browser, chromium_binary
from tests.conftest import FIXTURES
from tests.stack import Stack, running_stack, stack_settings
from tests.support import free_port, wait_for
from use_cases.threading import workflow_id_for
from use_cases.tickets import ticket_reference
from workflows.search_attributes import (
    FLOW_ATTRIBUTE,
    REFERENCE_ATTRIBUTE,
    REQUESTER_ATTRIBUTE,
    STAGE_ATTRIBUTE,
    SUBJECT_ATTRIBUTE,
    THREAD_ATTRIBUTES,
)

SUPPORT = "support@mailroom.local"
PROCUREMENT = "procurement@mailroom.local"
METADATA_QUERY = "__temporal_workflow_metadata"  # what the Web UI asks a workflow
LIST_COLUMNS = (
    "Status",
    "Workflow ID",
    "MailroomReference",
    "MailroomSubject",
    "MailroomRequester",
    "MailroomFlow",
    "MailroomStage",
)


class WebUi:
    def __init__(self, env: WorkflowEnvironment, port: int) -> None:
        self.env = env
        self.url = f"http://127.0.0.1:{port}/namespaces/{env.client.namespace}"


@pytest.fixture(scope="module")
async def web_ui() -> AsyncIterator[WebUi]:
    """A dev server of its own with the Web UI on (the shared one runs without)."""
    port = free_port()
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_cli()),
        data_converter=pydantic_data_converter,
        port=free_port(),
        ui=True,
        ui_port=port,
        search_attributes=THREAD_ATTRIBUTES,
    )
    yield WebUi(env, port)
    await env.shutdown()


@pytest.fixture
async def stack(web_ui: WebUi, tmp_path: Path, task_queue: str) -> AsyncIterator[Stack]:
    settings = stack_settings(
        tmp_path, web_ui.env.client, task_queue, search_attributes=True, searchable_subjects=True
    )
    async with running_stack(web_ui.env.client, settings) as running:
        yield running


def question(unique: str, subject: str = "Printer on fire") -> bytes:
    raw = (FIXTURES / "support_question.eml").read_bytes()
    raw = raw.replace(b"<question-1@", f"<question-{unique}@".encode())
    return raw.replace(b"Subject: Printer on fire", b"Subject: " + subject.encode())


async def thread_at_rest(stack: Stack, web_ui: WebUi, unique: str) -> WorkflowHandle[None, None]:
    """The thread of `question(unique)`, once its flow waits for the customer."""
    thread_id = workflow_id_for(SUPPORT, f"<question-{unique}@example.com>")
    await wait_for(
        lambda: _stage_is(stack, thread_id, "waiting_for_customer"), what="the thread at rest"
    )
    return web_ui.env.client.get_workflow_handle(thread_id)


async def _stage_is(stack: Stack, thread_id: str, stage: str) -> bool:
    return (await stack.gateway.get(thread_id)).stage == stage


async def current_details(handle: WorkflowHandle[None, None]) -> str:
    metadata = await handle.query(METADATA_QUERY, result_type=WorkflowMetadata)
    return str(metadata.current_details)


async def test_a_thread_shows_its_subject_requester_and_stage(
    stack: Stack, web_ui: WebUi, unique: str
) -> None:
    await stack.send(question(unique), [SUPPORT])
    handle = await thread_at_rest(stack, web_ui, unique)
    reference = ticket_reference(handle.id)

    description = await handle.describe()
    assert await description.static_summary() == "Printer on fire — alice@example.com"
    assert await description.static_details() == (
        f"**mailbox** {SUPPORT}\n**ticket** #{reference}\n"
        f"**first message** \\<question-{unique}@example.com\\>"
    )
    details = await wait_for(
        lambda: _showing(handle, "waiting_for_customer"), what="the stage in current details"
    )
    assert details == (
        f"**stage** waiting_for_customer · flow support · 1 message · ref #{reference}"
    )


async def _showing(handle: WorkflowHandle[None, None], text: str) -> str | None:
    details = await current_details(handle)
    return details if text in details else None


async def test_a_child_flow_shows_its_flow_subject_and_stage(
    stack: Stack, web_ui: WebUi, unique: str
) -> None:
    rfq = (FIXTURES / "rfq.eml").read_bytes().replace(b"<rfq-", f"<rfq-{unique}-".encode())
    await stack.send(rfq, [PROCUREMENT])
    thread_id = workflow_id_for(PROCUREMENT, f"<rfq-{unique}-20-laptops@corp.example>")
    child = web_ui.env.client.get_workflow_handle(f"{thread_id}-procurement-1")

    description = await wait_for(child.describe, what="the procurement flow's workflow")
    assert await description.static_summary() == (
        "procurement flow: RFQ: 20 laptops for the new team"
    )
    details = await wait_for(lambda: _showing(child, "flow procurement"), what="its stage")
    assert details.startswith("**stage** ")
    assert details.endswith(f"· flow procurement · ref #{ticket_reference(thread_id)}")
    # its row in the workflow list: whose and which flow (the thread's row has the stage)
    listed = description.typed_search_attributes
    assert listed.get(SUBJECT_ATTRIBUTE) == "RFQ: 20 laptops for the new team"
    assert listed.get(REQUESTER_ATTRIBUTE) == "bob@corp.example"
    assert listed.get(REFERENCE_ATTRIBUTE) == ticket_reference(thread_id)
    assert listed.get(FLOW_ATTRIBUTE) == "procurement"


def browser_or_skip() -> str:
    binary = chromium_binary()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: .ci/run installs it")
        pytest.skip("chromium (Debian package) is not installed: the browser check needs it")
    return binary


async def test_the_web_ui_shows_the_thread_summary_and_stage_in_a_browser(
    stack: Stack, web_ui: WebUi, unique: str
) -> None:
    binary = browser_or_skip()
    await stack.send(question(unique), [SUPPORT])
    handle = await thread_at_rest(stack, web_ui, unique)
    await wait_for(lambda: _showing(handle, "waiting_for_customer"), what="current details")
    run_id = (await handle.describe()).run_id
    page = f"{web_ui.url}/workflows/{handle.id}/{run_id}/user-metadata"

    def read_page() -> str:
        with Browser(binary) as browser:
            browser.open(page)
            return browser.wait_for_text(
                "Printer on fire — alice@example.com",
                f"question-{unique}@example.com",
                "stage waiting_for_customer · flow support · 1 message",
            )

    shown = await asyncio.to_thread(read_page)
    assert f"ref #{ticket_reference(handle.id)}" in shown


async def test_the_workflow_list_shows_each_thread_subject_requester_and_stage(
    stack: Stack, web_ui: WebUi, unique: str
) -> None:
    """The list reads at a glance: who asked what, and where the thread is, in columns
    of search attributes (the list has no column for the workflow's summary)."""
    binary = browser_or_skip()
    await stack.send(question(unique, f"Printer on fire ({unique})"), [SUPPORT])
    handle = await thread_at_rest(stack, web_ui, unique)
    await listed_at_rest(web_ui, handle.id)
    shown = await asyncio.to_thread(list_page, binary, web_ui, handle.id)
    reference = ticket_reference(handle.id)
    columns = (handle.id, reference, f"Printer on fire ({unique})", "alice@example.com")
    row = r"\s+".join(re.escape(cell) for cell in (*columns, "support", "waiting_for_customer"))
    assert re.search(row, shown), shown


async def test_markup_in_a_subject_shows_as_text_in_the_workflow_list(
    stack: Stack, web_ui: WebUi, unique: str
) -> None:
    binary = browser_or_skip()
    hostile = f'<img src="http://evil.example/{unique}.png"> [click](http://evil.example/)'
    await stack.send(question(unique, hostile), [SUPPORT])
    handle = await thread_at_rest(stack, web_ui, unique)
    await listed_at_rest(web_ui, handle.id)
    shown = await asyncio.to_thread(
        list_page, binary, web_ui, handle.id, "img[src*='evil'], a[href*='evil']"
    )
    assert hostile in shown
    assert shown.endswith("0 elements"), "no image, no link from mail"


def list_page(binary: str, web_ui: WebUi, workflow_id: str, count: str = "") -> str:
    """The text of the Web UI's workflow list, filtered to the workflow, with the thread
    columns shown; with `count`, ended by how many elements match that selector."""
    query = f"WorkflowId = '{workflow_id}'"
    page = f"{web_ui.url}/workflows?query=" + quote(query)
    with Browser(binary) as browser:
        browser.open(page)
        browser.wait_for_text(workflow_id)
        browser.show_workflow_columns(web_ui.env.client.namespace, *LIST_COLUMNS)
        browser.open(page)
        shown = browser.wait_for_text("MailroomSubject", "waiting_for_customer")
        if count:
            shown += f"\n{browser.on_page(count)} elements"
        return shown


async def listed_at_rest(web_ui: WebUi, workflow_id: str) -> None:
    """The list reads visibility, which follows the workflow's upserts."""
    query = f"WorkflowId = '{workflow_id}' AND {STAGE_ATTRIBUTE.name} = 'waiting_for_customer'"
    await wait_for(lambda: _listed(web_ui, query), what="the stage in visibility")


async def _listed(web_ui: WebUi, query: str) -> bool:
    return bool([execution async for execution in web_ui.env.client.list_workflows(query)])


async def test_markup_in_a_subject_shows_as_text_not_as_an_image_or_a_link(
    stack: Stack, web_ui: WebUi, unique: str
) -> None:
    binary = browser_or_skip()
    hostile = '<img src="http://evil.example/p.png"> [click](http://evil.example/) www.evil.example'
    await stack.send(question(unique, hostile), [SUPPORT])
    handle = await thread_at_rest(stack, web_ui, unique)
    run_id = (await handle.describe()).run_id
    page = f"{web_ui.url}/workflows/{handle.id}/{run_id}/user-metadata"

    def rendered() -> tuple[str, int, int]:
        with Browser(binary) as browser:
            browser.open(page)
            shown = browser.wait_for_text("[click](http://evil.example/)")
            return shown, browser.in_frames("img"), browser.in_frames("a[href*='evil']")

    shown, images, links = await asyncio.to_thread(rendered)
    # as typed, but for the quotes the UI's renderer curls
    assert re.search(r"<img src=.http://evil\.example/p\.png.> \[click\]", shown)
    assert (images, links) == (0, 0)
