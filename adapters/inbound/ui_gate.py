"""The embedded Web UI behind a read-only gate (issue 22): the UI's write actions off unless
MAILROOM_UI_WRITE_ACTIONS is set.

`temporal server start-dev` builds its Web UI's configuration from its flags alone, and none
turns the UI's write actions (terminate, cancel, signal, reset, update, start, batch
operations) off. So the UI server listens on a private loopback port and this gate serves
the UI's port in front of it:

- reads pass: GET, HEAD and OPTIONS, and the one POST that reads — a workflow query (the
  UI's stack trace and the flows' state queries, read-only by Temporal's contract);
- every other request is answered 403 with one line saying which setting opens it, in the
  JSON form the UI shows for a failed call;
- the UI's `/api/v1/settings` is answered with every write action marked disabled, so the UI
  does not offer buttons that would only fail;
- a request must name a loopback host (as the codec server's must): a web page whose DNS
  name was rebound to 127.0.0.1 reaches the port as its own origin, but names its own host.

The gRPC port stays what it was (unauthenticated, loopback): the gate keeps a click in the
UI from ending or signalling a thread, not a program on the machine (docs/operations.md).
"""

from __future__ import annotations

import http.client
import json
import re
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from threading import Thread
from typing import Literal
from urllib.parse import urlsplit

import structlog

from adapters.inbound.bounded_http import BoundedHTTPServer

log = structlog.get_logger()

# A workflow query: /api/v1/namespaces/{namespace}/workflows/{workflow id}/query/{query type}.
# The UI server resolves `..` (".../query/q/../../terminate" reaches terminate): the pattern
# alone refuses that form; dot segments and encoded separators are refused besides.
QUERY_PATH = re.compile(r"/api/v1/namespaces/[^/]+/workflows/[^/]+/query/[^/]+")
ENCODED_SEPARATORS = re.compile(r"%(2f|5c|2e)", re.IGNORECASE)
SETTINGS_PATH = "/api/v1/settings"
# Every write action the UI server (2.x) lets its configuration turn off; its settings
# answer is rewritten with these true, and any later `...Disabled` flag of a write action.
WRITE_SWITCHES = (
    "DisableWriteActions",
    "WorkflowTerminateDisabled",
    "WorkflowCancelDisabled",
    "WorkflowSignalDisabled",
    "WorkflowUpdateDisabled",
    "WorkflowResetDisabled",
    "WorkflowPauseDisabled",
    "BatchActionsDisabled",
    "StartWorkflowDisabled",
    "ActivityCommandsDisabled",
)
NOT_WRITE_SWITCHES = frozenset({"RefreshWorkflowCountsDisabled"})
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",  # set again for the body as it is passed on
    }
)
REQUEST_BODY_LIMIT = 1 << 20  # a query's arguments; the UI sends a few hundred bytes
UPSTREAM_SECONDS = 50.0  # within the gate's own 60 s per connection
SOCKET_SECONDS = 15.0
# gRPC's codes, in the JSON the UI server's gateway answers a failed call with
INVALID_ARGUMENT, PERMISSION_DENIED, UNAVAILABLE = 3, 7, 14
GRPC_CODES = {HTTPStatus.FORBIDDEN: PERMISSION_DENIED, HTTPStatus.BAD_GATEWAY: UNAVAILABLE}
BODILESS_STATUSES = frozenset({HTTPStatus.NO_CONTENT, HTTPStatus.NOT_MODIFIED})
ANSWER_LIMIT = 64 << 20
ACTION_WORDS = frozenset(
    {
        "terminate",
        "cancel",
        "signal",
        "reset",
        "update",
        "update-options",
        "pause",
        "unpause",
        "batch-operations",
        "schedules",
        "workflows",
        "activities",
    }
)
REFUSAL = (
    "mailroom: the Web UI is read-only (terminate, cancel, signal, reset, update, start and "
    "batch actions are off): set MAILROOM_UI_WRITE_ACTIONS=true to allow them"
)


def is_read(method: str, path: str) -> bool:
    """Whether a request only reads: what the gate passes on."""
    if method in {"GET", "HEAD", "OPTIONS"}:
        return True
    if method != "POST":
        return False
    route = urlsplit(path).path
    segments = route.split("/")
    return (
        QUERY_PATH.fullmatch(route) is not None
        and ENCODED_SEPARATORS.search(route) is None
        and "\\" not in route
        and not any(s in {".", ".."} for s in segments)
    )


def read_only_settings(body: bytes) -> bytes:
    """The UI server's settings with every write action off."""
    settings = json.loads(body)
    if not isinstance(settings, dict):
        raise ValueError("the Web UI's settings are not a JSON object")
    for key in WRITE_SWITCHES:
        settings[key] = True
    for key in list(settings):
        if key.endswith("Disabled") and key not in NOT_WRITE_SWITCHES:
            settings[key] = True
    return json.dumps(settings).encode()


class UiGate(BoundedHTTPServer):
    """Serves `address`; passes reads on to the UI server at 127.0.0.1:`upstream_port`."""

    def __init__(self, address: tuple[str, int], upstream_port: int) -> None:
        super().__init__(address, UiGateRequest)
        self.upstream_port = upstream_port

    def serve_in_thread(self, name: str = "web UI gate") -> Thread:
        return super().serve_in_thread(name)


class UiGateRequest(BaseHTTPRequestHandler):
    server: UiGate
    timeout = SOCKET_SECONDS
    server_version = "mailroom-ui-gate"
    sys_version = ""
    _upstream_length = "0"

    def _handle(self) -> None:
        if not self._host_allowed():
            return
        if not is_read(self.command, self.path):
            log.info("web_ui_write_refused", method=self.command, route=_route_kind(self.path))
            self._refuse(HTTPStatus.FORBIDDEN, REFUSAL)
            return
        body = self._body()
        if body is False:
            return
        try:
            status, headers, answer = self._pass_on(body or None)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            log.warning("web_ui_unreachable", error=type(exc).__name__)
            self._refuse(HTTPStatus.BAD_GATEWAY, "mailroom: the Web UI server does not answer")
            return
        # the upstream's own Date and Server, not a second pair of the gate's
        self.send_response_only(status)
        for name, value in headers:
            self.send_header(name, value)
        if status not in BODILESS_STATUSES:
            length = self._upstream_length if self.command == "HEAD" else len(answer)
            self.send_header("Content-Length", str(length))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer)

    do_GET = do_HEAD = do_OPTIONS = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

    def _body(self) -> bytes | Literal[False]:
        """The request's body (b"" for none); False once refused (answered already)."""
        if self.headers.get("Transfer-Encoding") is not None:
            self._refuse(HTTPStatus.LENGTH_REQUIRED, "mailroom: send a Content-Length")
            return False
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self._refuse(HTTPStatus.BAD_REQUEST, "mailroom: a malformed Content-Length")
            return False
        if length > REQUEST_BODY_LIMIT:
            self._refuse(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "mailroom: request body too large")
            return False
        return self.rfile.read(length) if length else b""

    def _pass_on(self, body: bytes | None) -> tuple[int, list[tuple[str, str]], bytes]:
        settings = urlsplit(self.path).path == SETTINGS_PATH and self.command == "GET"
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        if settings:  # rewritten below: asked for uncompressed
            headers = {k: v for k, v in headers.items() if k.lower() != "accept-encoding"}
        upstream = http.client.HTTPConnection(
            "127.0.0.1", self.server.upstream_port, timeout=UPSTREAM_SECONDS
        )
        try:
            upstream.request(self.command, self.path, body=body, headers=headers)
            response = upstream.getresponse()
            # held whole to be sent with its length: a page of history, a bundle of the UI
            answer = response.read(ANSWER_LIMIT + 1)
            if len(answer) > ANSWER_LIMIT:
                raise ValueError("the Web UI server's answer is over the gate's limit")
            self._upstream_length = response.getheader("Content-Length") or "0"
            kept = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP]
            if settings and response.status == HTTPStatus.OK:
                answer = read_only_settings(answer)
            return response.status, kept, answer
        finally:
            upstream.close()

    def _host_allowed(self) -> bool:
        if self.server.allows_host(self.headers.get("Host")):
            return True
        self._refuse(HTTPStatus.FORBIDDEN, "mailroom: not a loopback host name")
        return False

    def _refuse(self, status: HTTPStatus, message: str) -> None:
        self.close_connection = True
        code = GRPC_CODES.get(status, INVALID_ARGUMENT)
        data = json.dumps({"code": code, "message": message, "details": []}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        """Silenced: the standard library's line names workflow ids and queries."""


def _route_kind(path: str) -> str:
    """What was refused, in the UI server's words, never the ids in the path."""
    words = urlsplit(path).path.split("/")
    return next((w for w in reversed(words) if w in ACTION_WORDS), "other")
