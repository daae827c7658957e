"""The read-only gate's two decisions (adapters/inbound/ui_gate.py): which requests only read,
and the UI settings it hands out. The gate in front of a real UI server:
tests/integration/test_web_ui_gate.py."""

from __future__ import annotations

import asyncio
import http.client
import json
from collections.abc import Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread

import pytest

from adapters.inbound.ui_gate import WRITE_SWITCHES, UiGate, is_read, read_only_settings
from orchestrator.settings import Settings
from orchestrator.temporal_server import EmbeddedTemporal, port_is_free
from tests.support import free_port

QUERY = "/api/v1/namespaces/default/workflows/thread-support%40x-1/query/__stack_trace"


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS"])
def test_reads_pass(method: str) -> None:
    assert is_read(method, "/api/v1/namespaces/default/workflows?query=x")
    assert is_read(method, "/_app/immutable/start.js")


@pytest.mark.parametrize(
    "path", [QUERY, QUERY + "?x=1", "/api/v1/namespaces/n/workflows/w/query/state"]
)
def test_a_workflow_query_is_a_read(path: str) -> None:
    assert is_read("POST", path)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/namespaces/n/workflows/w/terminate"),
        ("POST", "/api/v1/namespaces/n/workflows/w/signal/approve"),
        ("POST", "/api/v1/namespaces/n/workflows/w"),  # start
        ("POST", "/api/v1/namespaces/n/batch-operations/job"),
        ("POST", "/api/v1/namespaces/n/workflows/w/query/q/../../terminate"),  # resolved
        ("POST", "/api/v1/namespaces/n/workflows/w/query/.."),
        ("POST", "/api/v1/namespaces/n/workflows/../query/x"),
        ("POST", "/api/v1/namespaces/n/workflows/w/query/%2e%2E"),
        ("POST", "/api/v1/namespaces/n/workflows/w/query/a%2Fb"),
        ("POST", "/api/v1/namespaces/n/workflows/w/query/a\\b"),
        ("POST", "/api/v1/namespaces/n/workflows/w/query/x/extra"),
        ("POST", "/api/v1/x/api/v1/namespaces/n/workflows/w/query/x"),
        ("PUT", QUERY),
        ("DELETE", "/api/v1/namespaces/n/schedules/s"),
        ("PATCH", "/api/v1/namespaces/n/schedules/s"),
    ],
)
def test_everything_else_is_a_write(method: str, path: str) -> None:
    assert not is_read(method, path)


def test_the_settings_handed_out_turn_every_write_action_off() -> None:
    served = {
        "DisableWriteActions": False,
        "WorkflowTerminateDisabled": False,
        "WorkflowRewindDisabled": False,  # a later UI's switch
        "RefreshWorkflowCountsDisabled": False,  # not a write action
        "Codec": {"Endpoint": "http://127.0.0.1:8234/token"},
    }
    shown = json.loads(read_only_settings(json.dumps(served).encode()))
    assert all(shown[switch] is True for switch in WRITE_SWITCHES)
    assert shown["WorkflowRewindDisabled"] is True
    assert shown["RefreshWorkflowCountsDisabled"] is False
    assert shown["Codec"] == served["Codec"]


@pytest.mark.parametrize("body", [b"[]", b"not json", b""])
def test_settings_that_are_not_an_object_are_not_handed_out(body: bytes) -> None:
    with pytest.raises(ValueError):
        read_only_settings(body)


class StubUi(BaseHTTPRequestHandler):
    """An upstream that answers as a UI server would: a page, an empty 204, its own Date."""

    def do_GET(self) -> None:
        if self.path == "/empty":
            self.send_response(HTTPStatus.NO_CONTENT)
            self.end_headers()
            return
        page = b"<html>threads</html>"
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)

    do_HEAD = do_GET

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def gate() -> Iterator[str]:
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), StubUi)
    Thread(target=upstream.serve_forever, daemon=True).start()
    served = UiGate(("127.0.0.1", 0), upstream_port=upstream.server_address[1])
    served.serve_in_thread()
    yield f"127.0.0.1:{served.port}"
    served.close()
    upstream.shutdown()
    upstream.server_close()


def ask(
    where: str, method: str, path: str, body: bytes | None = None, **headers: str
) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection(where, timeout=10)
    connection.putrequest(method, path)
    for name, value in headers.items():
        connection.putheader(name.replace("_", "-"), value)
    connection.endheaders(body)
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


def test_an_answer_is_passed_on_with_one_date_and_its_length(gate: str) -> None:
    got = ask(gate, "GET", "/namespaces")
    assert got.status == 200 and len(got.headers.get_all("Date") or []) == 1
    assert got.headers["Content-Length"] == str(len(b"<html>threads</html>"))
    head = ask(gate, "HEAD", "/namespaces")
    assert head.headers["Content-Length"] == str(len(b"<html>threads</html>"))
    empty = ask(gate, "GET", "/empty")
    assert empty.status == 204 and "Content-Length" not in empty.headers


def test_a_query_body_reaches_the_ui_server(gate: str) -> None:
    body = b'{"query": {}}'
    connection = http.client.HTTPConnection(gate, timeout=10)
    connection.request("POST", QUERY, body=body, headers={"Content-Type": "application/json"})
    answer = connection.getresponse()
    assert (answer.status, answer.read()) == (200, body)
    connection.close()


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Content-Length": "abc"}, 400),
        ({"Content-Length": "-1"}, 400),
        ({"Content-Length": str(2 << 20)}, 413),
        ({"Transfer-Encoding": "chunked"}, 411),
    ],
)
def test_a_query_with_a_body_the_gate_cannot_pass_on_is_answered(
    gate: str, headers: dict[str, str], status: int
) -> None:
    connection = http.client.HTTPConnection(gate, timeout=10)
    connection.putrequest("POST", QUERY)
    for name, value in headers.items():
        connection.putheader(name, value)
    connection.endheaders()
    answer = connection.getresponse()
    assert answer.status == status
    assert json.loads(answer.read())["code"] == 3  # INVALID_ARGUMENT, as the UI shows it
    connection.close()


def test_a_ui_server_that_does_not_answer_is_a_502() -> None:
    served = UiGate(("127.0.0.1", 0), upstream_port=free_port())
    served.serve_in_thread()
    try:
        connection = http.client.HTTPConnection(f"127.0.0.1:{served.port}", timeout=10)
        connection.request("GET", "/namespaces")
        answer = connection.getresponse()
        assert answer.status == 502
        assert json.loads(answer.read())["code"] == 14  # UNAVAILABLE
        connection.close()
    finally:
        served.close()


def test_the_ui_server_takes_the_ui_port_itself_only_with_write_actions_on(
    tmp_path: Path,
) -> None:
    grpc, ui = free_port(), free_port()

    def settings(*, write_actions: bool = False) -> Settings:
        return Settings(
            data_dir=tmp_path,
            temporal_port=grpc,
            temporal_ui_port=ui,
            temporal_metrics_port=1,
            ui_write_actions=write_actions,
        )

    opened = EmbeddedTemporal(settings(write_actions=True))
    assert ["--ui-port", str(ui)] in pairs(opened.command())

    gated = EmbeddedTemporal(settings())
    gated._open_ui_gate()  # what start() does first without MAILROOM_UI_WRITE_ACTIONS
    try:
        private = gated.ui_server_port
        assert private != ui
        assert ["--ui-port", str(private)] in pairs(gated.command())
        assert not port_is_free(ui)  # the gate serves it
    finally:
        asyncio.run(gated.stop())
    assert port_is_free(ui)


def pairs(argv: list[str]) -> list[list[str]]:
    return [argv[i : i + 2] for i in range(len(argv) - 1)]
