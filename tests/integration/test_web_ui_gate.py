"""The Web UI's write actions are off unless MAILROOM_UI_WRITE_ACTIONS says otherwise (issue
22): a real UI server (`temporal server start-dev`'s) on a private port behind the read-only
gate (adapters/inbound/ui_gate.py), as `mailroom up` runs it. A terminate or a signal sent
through the UI's port is refused and the thread goes on, while the same request sent to the
UI server itself ends the workflow (so the refused requests are the ones the UI acts on);
reads, the workflow queries among them, still pass, and in a browser the thread's page shows
its decoded stage with its action buttons disabled."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from adapters.inbound.codec_server import CodecAccess, CodecServer
from adapters.inbound.ui_gate import WRITE_SWITCHES, UiGate
from adapters.outbound.key_ring import new_key_entry, parse_key_ring
from adapters.outbound.payload_codec import EncryptionCodec
from orchestrator.temporal_server import temporal_cli
from tests.browser import Browser
from tests.integration.test_web_ui import WebUi, browser_or_skip, question, thread_at_rest
from tests.stack import Stack, running_stack, stack_settings
from tests.support import free_port, wait_for
from workflows.search_attributes import THREAD_ATTRIBUTES

SUPPORT = "support@mailroom.local"
TOKEN = "codec-token-for-the-gate-test-0123456789abcdef"
METADATA_QUERY = "__temporal_workflow_metadata"
BUTTONS = (
    "Array.from(document.querySelectorAll('button'))"
    ".filter(b => ['Request Cancellation', 'More Actions'].includes(b.innerText.trim()))"
    ".map(b => b.innerText.trim() + (b.disabled ? ' disabled' : ' enabled'))"
)


@dataclass
class GatedUi:
    env: WorkflowEnvironment
    public: str  # the gate: the UI's port as `mailroom up` serves it
    private: str  # the UI server itself

    @property
    def namespace(self) -> str:
        return self.env.client.namespace


@pytest.fixture(scope="module")
async def gated() -> AsyncIterator[GatedUi]:
    codec = EncryptionCodec(parse_key_ring(new_key_entry("k1")))
    gate = UiGate(("127.0.0.1", 0), upstream_port=free_port())
    public = f"http://127.0.0.1:{gate.port}"
    access = CodecAccess(token=TOKEN, ui_origins=frozenset({public}))
    codec_server = CodecServer(("127.0.0.1", 0), codec, access, asyncio.get_running_loop())
    codec_server.serve_in_thread()
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_cli()),
        data_converter=replace(pydantic_data_converter, payload_codec=codec),
        port=free_port(),
        ui=True,
        ui_port=gate.upstream_port,
        search_attributes=THREAD_ATTRIBUTES,
        dev_server_extra_args=[
            "--ui-codec-endpoint",
            f"http://127.0.0.1:{codec_server.port}/{TOKEN}",
        ],
    )
    gate.serve_in_thread()
    private = f"http://127.0.0.1:{gate.upstream_port}"
    # the UI server answers 503 until it has reached the frontend
    await wait_for(lambda: asyncio.to_thread(_serves, private), what="the Web UI server")
    yield GatedUi(env, public, private)
    await env.shutdown()
    await asyncio.to_thread(gate.close)
    await asyncio.to_thread(codec_server.close)


def _serves(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/api/v1/namespaces", timeout=10) as answer:
            return bool(answer.status == 200)
    except urllib.error.HTTPError:
        return False


@pytest.fixture
async def stack(gated: GatedUi, tmp_path: Path, task_queue: str) -> AsyncIterator[Stack]:
    settings = stack_settings(tmp_path, gated.env.client, task_queue, search_attributes=True)
    async with running_stack(gated.env.client, settings) as running:
        yield running


def call(
    base: str, method: str, path: str, body: dict[str, Any] | None = None, **headers: str
) -> tuple[int, dict[str, Any]]:
    """One request as the UI's page makes it: with the UI server's CSRF cookie and header
    (which it wants on every POST), taken from a read of its settings."""
    with urllib.request.urlopen(f"{base}/api/v1/settings", timeout=10) as answer:
        cookie = SimpleCookie(answer.headers["Set-Cookie"])["_csrf"].value
    request = urllib.request.Request(
        f"{base}{path}",
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={
            "Cookie": f"_csrf={cookie}",
            "X-CSRF-TOKEN": cookie,
            "Content-Type": "application/json",
            **headers,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=20) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


async def test_a_terminate_or_signal_through_the_web_ui_is_refused_and_the_thread_goes_on(
    gated: GatedUi, unique: str
) -> None:
    handle = await gated.env.client.start_workflow(
        "NoWorkerRunsThis", id=f"gate-{unique}", task_queue=f"nobody-{unique}"
    )
    workflow = f"/api/v1/namespaces/{gated.namespace}/workflows/{quote(handle.id)}"
    for method, path, body in (
        ("POST", f"{workflow}/terminate", {"reason": "clicked"}),
        ("POST", f"{workflow}/signal/approve", {"input": None}),
        ("POST", f"{workflow}/reset", {"reason": "clicked"}),
        ("POST", f"{workflow}/query/q/../../terminate", {}),  # the UI server resolves it
        ("POST", f"{workflow}/query/%2E%2E", {}),
        ("DELETE", f"/api/v1/namespaces/{gated.namespace}/schedules/any", None),
    ):
        status, answer = await asyncio.to_thread(call, gated.public, method, path, body)
        assert status == 403, (method, path)
        assert "set MAILROOM_UI_WRITE_ACTIONS=true" in answer["message"]
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING

    # the same terminate, sent to the UI server itself, is one it acts on
    status, _ = await asyncio.to_thread(
        call, gated.private, "POST", f"{workflow}/terminate", {"reason": "clicked"}
    )
    assert status == 200
    assert (await handle.describe()).status == WorkflowExecutionStatus.TERMINATED


async def test_the_web_ui_is_told_its_write_actions_are_off(gated: GatedUi) -> None:
    def settings(base: str) -> dict[str, Any]:
        with urllib.request.urlopen(f"{base}/api/v1/settings", timeout=10) as answer:
            shown: dict[str, Any] = json.loads(answer.read())
            return shown

    through_gate = await asyncio.to_thread(settings, gated.public)
    as_served = await asyncio.to_thread(settings, gated.private)
    assert as_served["DisableWriteActions"] is False  # start-dev: no way to turn it off
    assert all(through_gate[switch] is True for switch in WRITE_SWITCHES)
    # the rest as the UI server says it: the codec endpoint, the count refresh
    assert through_gate["Codec"] == as_served["Codec"]
    assert through_gate["RefreshWorkflowCountsDisabled"] is False


async def test_a_page_of_a_rebound_dns_name_is_refused(gated: GatedUi) -> None:
    """A page at attacker.example whose name now resolves to 127.0.0.1 calls the UI as its
    own origin (no CORS in the way), but names its own host."""
    status, answer = await asyncio.to_thread(
        call, gated.public, "GET", "/api/v1/namespaces", Host="attacker.example"
    )
    assert status == 403 and "loopback host" in answer["message"]
    status, answer = await asyncio.to_thread(call, gated.public, "GET", "/api/v1/namespaces")
    assert status == 200 and answer["namespaces"]


async def test_a_workflow_query_passes_the_gate(stack: Stack, gated: GatedUi, unique: str) -> None:
    await stack.send(question(unique), [SUPPORT])
    handle = await thread_at_rest(stack, WebUi(gated.env, 0), unique)
    path = (
        f"/api/v1/namespaces/{gated.namespace}/workflows/{quote(handle.id)}/query/{METADATA_QUERY}"
    )
    status, answer = await asyncio.to_thread(call, gated.public, "POST", path, {})
    assert status == 200
    assert answer["queryResult"]["payloads"]  # sealed: the page decodes it through the codec


async def test_the_thread_page_shows_its_stage_with_its_actions_disabled_in_a_browser(
    stack: Stack, gated: GatedUi, unique: str
) -> None:
    binary = browser_or_skip()
    await stack.send(question(unique), [SUPPORT])
    handle = await thread_at_rest(stack, WebUi(gated.env, 0), unique)
    run_id = (await handle.describe()).run_id
    page = (
        f"{gated.public}/namespaces/{gated.namespace}/workflows/{handle.id}/{run_id}/user-metadata"
    )

    def read_page() -> tuple[str, list[str]]:
        with Browser(binary) as browser:
            browser.open(page)
            # the current details come from a workflow query, decoded by the codec server
            shown = browser.wait_for_text("stage waiting_for_customer · flow support")
            return shown, browser.evaluate(BUTTONS)

    _, buttons = await asyncio.to_thread(read_page)
    # each button twice: in the page's header and its sticky copy
    assert set(buttons) == {"More Actions disabled", "Request Cancellation disabled"}
