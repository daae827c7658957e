"""Screenshots of threads in the Temporal Web UI: `python -m tests.web_ui_screenshot docs/`.

Starts a dev server with its Web UI on free ports and a mailroom stack (search attributes
on), sends the support question and the RFQ from tests/fixtures/ and two more requests,
waits until every thread is listed with its stage, then saves, from headless Chromium, the
workflow list with the reference, subject, requester, flow and stage columns
(`web-ui-threads.png`) and the RFQ thread's "User Metadata" tab
(`web-ui-thread-metadata.png`).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from orchestrator.temporal_server import temporal_cli
from tests.browser import Browser, chromium_binary
from tests.conftest import FIXTURES
from tests.stack import running_stack, send_mail, stack_settings
from tests.support import free_port, wait_for
from use_cases.threading import workflow_id_for
from workflows.search_attributes import STAGE_ATTRIBUTE, THREAD_ATTRIBUTES

SUPPORT = "support@mailroom.local"
PROCUREMENT = "procurement@mailroom.local"
PASSWORD = (
    b"From: Dana Lee <dana@example.org>\r\nTo: support@mailroom.local\r\n"
    b"Subject: Cannot log in since this morning\r\nMessage-ID: <login-7@example.org>\r\n"
    b"\r\nHello, I forgot my password and cannot login. Can you help?\r\n"
)
MONITORS = (
    b"From: Erik Stone <erik@corp.example>\r\nTo: procurement@mailroom.local\r\n"
    b"Subject: Monitors for the design team\r\nMessage-ID: <monitors-3@corp.example>\r\n"
    b"\r\nPlease order 5 monitors (27 inch), budget EUR 2 000, needed next week.\r\n"
)
MAILS = {  # raw mail, its mailbox, its Message-ID
    "support_question.eml": (
        (FIXTURES / "support_question.eml").read_bytes(),
        SUPPORT,
        "<question-1@example.com>",
    ),
    "rfq.eml": (
        (FIXTURES / "rfq.eml").read_bytes(),
        PROCUREMENT,
        "<rfq-20-laptops@corp.example>",
    ),
    "password": (PASSWORD, SUPPORT, "<login-7@example.org>"),
    "monitors": (MONITORS, PROCUREMENT, "<monitors-3@corp.example>"),
}
SHOWN = "rfq.eml"


LIST = "web-ui-threads.png"
METADATA = "web-ui-thread-metadata.png"
LIST_COLUMNS = (
    "Status",
    "Type",
    "MailroomReference",
    "MailroomSubject",
    "MailroomRequester",
    "MailroomFlow",
    "MailroomStage",
)
LIST_WINDOW = (1760, 760)  # every column in view, and the rows of a few threads


async def screenshots(out_dir: Path, binary: str) -> None:
    ui_port = free_port()
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_cli()),
        data_converter=pydantic_data_converter,
        port=free_port(),
        ui=True,
        ui_port=ui_port,
        search_attributes=THREAD_ATTRIBUTES,
    )
    try:
        with tempfile.TemporaryDirectory() as data_dir:
            settings = stack_settings(
                Path(data_dir),
                env.client,
                "web-ui-screenshot",
                search_attributes=True,
                searchable_subjects=True,  # the subject column the screenshot shows
            )
            async with running_stack(env.client, settings):
                await _send_and_wait(env.client, settings.smtp_port)
                handle = env.client.get_workflow_handle(workflow_id_for(*MAILS[SHOWN][1:]))
                run_id = (await handle.describe()).run_id
                ui = f"http://127.0.0.1:{ui_port}/namespaces/default/workflows"
                pages = (ui, f"{ui}/{handle.id}/{run_id}/user-metadata")
                await asyncio.to_thread(_take, binary, pages, out_dir)
    finally:
        await env.shutdown()


async def _send_and_wait(client: Client, smtp_port: int) -> None:
    for raw, mailbox, _ in MAILS.values():
        await asyncio.to_thread(send_mail, smtp_port, raw, [mailbox], "x@example.com")
    # the list reads visibility: every thread listed with its stage
    query = f"WorkflowType = 'ThreadWorkflow' AND {STAGE_ATTRIBUTE.name} IS NOT NULL"
    await wait_for(lambda: _listed(client, query, len(MAILS)), what="every thread's stage")


async def _listed(client: Client, query: str, count: int) -> bool:
    return len([execution async for execution in client.list_workflows(query)]) >= count


def _take(binary: str, pages: tuple[str, str], out_dir: Path) -> None:
    listing, metadata = pages
    with Browser(binary, window=LIST_WINDOW) as browser:
        browser.open(listing)
        browser.wait_for_text("ThreadWorkflow")
        browser.show_workflow_columns("default", *LIST_COLUMNS)
        browser.open(listing)
        browser.wait_for_text(
            "awaiting_approval", "waiting_for_customer", "Monitors for the design team"
        )
        browser.screenshot(out_dir / LIST)
    with Browser(binary) as browser:
        browser.open(metadata)
        browser.wait_for_text(
            "RFQ: 20 laptops for the new team — bob@corp.example", "flow procurement"
        )
        browser.screenshot(out_dir / METADATA)


def main() -> None:
    binary = chromium_binary()
    if binary is None:
        sys.exit("chromium is not installed (apt-get install chromium)")
    out_dir = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    asyncio.run(screenshots(out_dir, binary))
    for name in (LIST, METADATA):
        print(f"{out_dir / name}: {(out_dir / name).stat().st_size} bytes")


if __name__ == "__main__":
    main()
