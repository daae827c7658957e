"""Screenshot of a thread in the Temporal Web UI: `python -m tests.web_ui_screenshot OUT.png`.

Starts a dev server with its Web UI on free ports and a mailroom stack, sends the support
question and the RFQ from tests/fixtures/, waits until both threads rest, then opens the
RFQ thread's "User Metadata" tab in headless Chromium and saves the page (docs/ has one).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from adapters.outbound.temporal_gateway import TemporalThreadGateway
from orchestrator.temporal_server import temporal_cli
from tests.browser import Browser, chromium_binary
from tests.conftest import FIXTURES
from tests.stack import running_stack, stack_settings
from tests.support import free_port, wait_for
from use_cases.threading import workflow_id_for
from workflows.routing import FLOW_ATTRIBUTE, STAGE_ATTRIBUTE

MAILS = {
    "support_question.eml": ("support@mailroom.local", "<question-1@example.com>"),
    "rfq.eml": ("procurement@mailroom.local", "<rfq-20-laptops@corp.example>"),
}
SHOWN = "rfq.eml"


async def screenshot(out: Path, binary: str) -> None:
    ui_port = free_port()
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_cli()),
        data_converter=pydantic_data_converter,
        port=free_port(),
        ui=True,
        ui_port=ui_port,
        search_attributes=[FLOW_ATTRIBUTE, STAGE_ATTRIBUTE],
    )
    try:
        with tempfile.TemporaryDirectory() as data_dir:
            settings = stack_settings(Path(data_dir), env.client, "web-ui-screenshot")
            async with running_stack(env.client, settings) as stack:
                for name, (mailbox, _) in MAILS.items():
                    await stack.send((FIXTURES / name).read_bytes(), [mailbox])
                threads = {name: workflow_id_for(*MAILS[name]) for name in MAILS}
                await wait_for(lambda: _staged(stack.gateway, threads.values()), what="stages")
                handle = env.client.get_workflow_handle(threads[SHOWN])
                run_id = (await handle.describe()).run_id
                url = (
                    f"http://127.0.0.1:{ui_port}/namespaces/default/workflows/"
                    f"{handle.id}/{run_id}/user-metadata"
                )
                await asyncio.to_thread(_take, binary, url, out)
    finally:
        await env.shutdown()


async def _staged(gateway: TemporalThreadGateway, thread_ids: Iterable[str]) -> bool:
    return all([(await gateway.get(thread_id)).stage for thread_id in thread_ids])


def _take(binary: str, url: str, out: Path) -> None:
    with Browser(binary) as browser:
        browser.open(url)
        browser.wait_for_text(
            "RFQ: 20 laptops for the new team — bob@corp.example", "flow procurement"
        )
        browser.screenshot(out)


def main() -> None:
    binary = chromium_binary()
    if binary is None:
        sys.exit("chromium is not installed (apt-get install chromium)")
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "web-ui-threads.png")
    asyncio.run(screenshot(out, binary))
    print(f"{out}: {out.stat().st_size} bytes")


if __name__ == "__main__":
    main()
