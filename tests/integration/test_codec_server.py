"""A thread encrypted by the payload codec is still read: its history's payloads, sent to the
codec server over HTTP, come back as the mail; the Web UI is told where the codec server is
and, where Chromium is installed, shows the decoded mail in a real browser (issue 22)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import stat
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from adapters.inbound.codec_server import CodecAccess, CodecServer
from adapters.outbound.history_payloads import payloads_in
from adapters.outbound.key_ring import new_key_entry, parse_key_ring
from adapters.outbound.payload_codec import ENCODING, EncryptionCodec
from orchestrator.temporal_server import temporal_cli
from tests.browser import Browser
from tests.integration.test_up import mailroom_up, stop
from tests.integration.test_web_ui import WebUi, browser_or_skip, question, thread_at_rest
from tests.stack import Stack, running_stack, stack_settings
from tests.support import free_port
from workflows.search_attributes import THREAD_ATTRIBUTES

SUPPORT = "support@mailroom.local"
TOKEN = "codec-token-for-this-test-0123456789abcdef"
BODY = "my printer is on fire. What should I do?"
# the workflow page's collapsed "Input" card, opened as a person clicks it
OPEN_INPUT = (
    "Array.from(document.querySelectorAll('button, summary'))"
    ".filter(b => b.innerText.trim().startsWith('Input')).forEach(b => b.click())"
)


@dataclass
class EncryptedUi:
    web: WebUi
    ui: str
    codec: str

    @property
    def env(self) -> WorkflowEnvironment:
        return self.web.env


@pytest.fixture(scope="module")
async def encrypted_ui() -> AsyncIterator[EncryptedUi]:
    """A dev server whose client (and so every worker on it) encrypts, with its Web UI
    pointed at a codec server holding the same key, as `mailroom up` starts them."""
    codec = EncryptionCodec(parse_key_ring(new_key_entry("k1")))
    ui_port = free_port()
    ui = f"http://127.0.0.1:{ui_port}"
    access = CodecAccess(token=TOKEN, ui_origins=frozenset({ui}))
    server = CodecServer(("127.0.0.1", 0), codec, access, asyncio.get_running_loop())
    server.serve_in_thread()
    codec_url = f"http://127.0.0.1:{server.port}"
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_cli()),
        data_converter=replace(pydantic_data_converter, payload_codec=codec),
        port=free_port(),
        ui=True,
        ui_port=ui_port,
        search_attributes=THREAD_ATTRIBUTES,
        dev_server_extra_args=["--ui-codec-endpoint", f"{codec_url}/{TOKEN}"],
    )
    yield EncryptedUi(WebUi(env, ui_port), ui, codec_url)
    await env.shutdown()
    await asyncio.to_thread(server.close)


@pytest.fixture
async def stack(encrypted_ui: EncryptedUi, tmp_path: Path, task_queue: str) -> AsyncIterator[Stack]:
    client = encrypted_ui.env.client
    settings = stack_settings(tmp_path, client, task_queue, search_attributes=True)
    async with running_stack(client, settings) as running:
        yield running


def post(url: str, body: bytes, **headers: str) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


async def test_a_threads_history_decodes_through_the_codec_server_over_http(
    stack: Stack, encrypted_ui: EncryptedUi, unique: str
) -> None:
    await stack.send(question(unique, f"Printer on fire {unique}"), [SUPPORT])
    handle = await thread_at_rest(stack, encrypted_ui.web, unique)
    history = await handle.fetch_history()  # as the server keeps it: nothing decoded
    # the codec's; search attributes stay readable to the server, which indexes them
    stored = [
        p for e in history.events for p in payloads_in(e) if p.metadata["encoding"] == ENCODING
    ]
    assert stored and not [p for p in stored if BODY.encode() in p.SerializeToString()]

    body = json_format.MessageToJson(Payloads(payloads=stored)).encode()
    bearer = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    status, answer = await asyncio.to_thread(post, f"{encrypted_ui.codec}/decode", body, **bearer)
    assert status == 200
    decoded = json_format.Parse(answer, Payloads()).payloads
    assert len(decoded) == len(stored)
    plaintext = b"\n".join(p.data for p in decoded)
    assert f"Printer on fire {unique}".encode() in plaintext
    assert BODY.encode() in plaintext

    status, answer = await asyncio.to_thread(post, f"{encrypted_ui.codec}/decode", body)
    assert status == 401 and unique.encode() not in answer


async def test_the_web_ui_is_told_where_the_codec_server_is(encrypted_ui: EncryptedUi) -> None:
    settings = await asyncio.to_thread(ui_settings, encrypted_ui.ui)
    assert settings["Codec"]["Endpoint"] == f"{encrypted_ui.codec}/{TOKEN}"


def ui_settings(ui: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{ui}/api/v1/settings", timeout=10) as response:
        settings: dict[str, Any] = json.loads(response.read())
        return settings


async def test_the_web_ui_shows_the_decoded_mail_in_a_browser(
    stack: Stack, encrypted_ui: EncryptedUi, unique: str
) -> None:
    binary = browser_or_skip()
    await stack.send(question(unique, f"Printer on fire {unique}"), [SUPPORT])
    handle = await thread_at_rest(stack, encrypted_ui.web, unique)
    run_id = (await handle.describe()).run_id
    namespace = encrypted_ui.env.client.namespace
    page = f"{encrypted_ui.ui}/namespaces/{namespace}/workflows/{handle.id}/{run_id}/history"

    def read_page() -> str:
        with Browser(binary) as browser:
            browser.open(page)
            browser.wait_for_text("Input")
            browser.evaluate(OPEN_INPUT)
            return browser.wait_for_text('"messages_per_run"', SUPPORT)

    shown = await asyncio.to_thread(read_page)
    assert "binary/encrypted" not in shown


@pytest.mark.slow
async def test_mailroom_up_serves_a_codec_server_its_web_ui_is_pointed_at(tmp_path: Path) -> None:
    ui_port = free_port()
    data = tmp_path / "data"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MAILROOM_")},
        "MAILROOM_DATA_DIR": str(data),
        "MAILROOM_TEMPORAL_PORT": str(free_port()),
        "MAILROOM_TEMPORAL_UI_PORT": str(ui_port),
        "MAILROOM_SMTP_PORT": str(free_port()),
        "MAILROOM_METRICS_ADDRESS": "off",
    }
    async with mailroom_up(env) as up:
        shown = await asyncio.to_thread(ui_settings, f"http://127.0.0.1:{ui_port}")
        endpoint = shown["Codec"]["Endpoint"]
        token = (data / "codec.token").read_text().strip()
        assert re.fullmatch(rf"http://127\.0\.0\.1:\d+/{token}", endpoint)
        server_argv = pairs(server_command_line(data))
        assert ["--ui-codec-endpoint", endpoint] in server_argv
        # its UI behind the read-only gate (tests/integration/test_web_ui_gate.py): the UI
        # server on a private port, its settings as the gate rewrites them
        private_ui = next(int(port) for flag, port in server_argv if flag == "--ui-port")
        assert private_ui != ui_port
        assert shown["DisableWriteActions"] is True
        empty = json.dumps({"payloads": []}).encode()
        origin = {"Origin": f"http://localhost:{ui_port}"}
        assert await asyncio.to_thread(post, f"{endpoint}/decode", empty, **origin) == (
            200,
            b'{"payloads": []}',
        )
        without_token = endpoint.removesuffix(f"/{token}")
        assert (await asyncio.to_thread(post, f"{without_token}/decode", empty))[0] == 401
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        assert stat.S_IMODE((data / "codec.token").stat().st_mode) == 0o600
        assert await stop(up) == 0


def server_command_line(data: Path) -> list[str]:
    """The embedded server's argv (the one whose database is in `data`)."""
    database = str(data / "temporal.db")
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().decode().split("\0")
        except OSError:
            continue
        if "start-dev" in argv and database in argv:
            return argv
    raise AssertionError("no embedded server runs on the test's data directory")


def pairs(argv: list[str]) -> list[list[str]]:
    return [argv[i : i + 2] for i in range(len(argv) - 1)]
