"""Temporal's remote codec protocol over HTTP (issue 22), for the Web UI and `temporal
--codec-endpoint`: `POST …/decode` and `POST …/encode` take `{"payloads": [...]}` (Payload
protobufs as JSON: bytes in base64) and answer the same shape, run through the codec.

Who may ask: a request carrying the token as `Authorization: Bearer <token>` (the CLI's
`--codec-auth`, scripts), or with the token as the endpoint's first path segment
(`http://host:port/<token>/decode`): the form the embedded Web UI is given, because the dev
server's UI sends no header of its own (its settings carry only an endpoint; its "pass access
token" sends an OIDC token, and only to https). Browsers may call it from the configured UI
origins only (CORS). Bodies are bounded; payloads and paths (the token) are never logged.

The HTTP parsing is the standard library's, in a thread per request; the codec runs on the
process's event loop (`loop`), as every other use of it does."""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from threading import Thread
from urllib.parse import urlsplit

import structlog
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.converter import PayloadCodec

from adapters.inbound.bounded_http import (
    MAX_CONNECTIONS,
    REQUEST_SECONDS,
    BoundedHTTPServer,
)

log = structlog.get_logger()

MAX_BODY_BYTES = 8 * 1024 * 1024  # a history page's payloads; Temporal's own cap is 2 MB each
SOCKET_SECONDS = 10.0  # a client that stalls mid-request loses its thread after this
CODEC_SECONDS = 30.0
ACTIONS = frozenset({"decode", "encode"})
ALLOWED_HEADERS = "content-type, x-namespace, authorization, authorization-extras"
PREFLIGHT_CACHE_SECONDS = 600


@dataclass(frozen=True)
class CodecAccess:
    token: str
    ui_origins: frozenset[str]

    def allows(self, authorization: str | None, prefix: Sequence[str]) -> bool:
        """The bearer token, or the token as the path's first segment (constant time)."""
        wanted = self.token.encode()
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), wanted):
            return True
        return bool(prefix) and hmac.compare_digest(prefix[0].encode(), wanted)


class BadRequest(ValueError):
    """Said to the client in the answer's body: what was wrong, never a payload."""

    status = HTTPStatus.BAD_REQUEST


class TooLarge(BadRequest):
    status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE


class CodecServer(BoundedHTTPServer):
    def __init__(
        self,
        address: tuple[str, int],
        codec: PayloadCodec,
        access: CodecAccess,
        loop: asyncio.AbstractEventLoop,
        *,
        max_connections: int = MAX_CONNECTIONS,
        request_seconds: float = REQUEST_SECONDS,
        encoding: bool = False,
    ) -> None:
        super().__init__(
            address,
            CodecRequest,
            max_connections=max_connections,
            request_seconds=request_seconds,
        )
        self.codec = codec
        self.access = access
        self.loop = loop
        # `/encode` seals whatever a token holder sends into a payload every worker takes:
        # a signal forged that way would pass as ours. The UI needs it only for its write
        # actions (signal, start), which mailroom leaves to its own CLI.
        self.encoding = encoding

    def serve_in_thread(self, name: str = "codec server") -> Thread:
        return super().serve_in_thread(name)

    def run_codec(self, action: str, payloads: list[Payload]) -> list[Payload]:
        """From a request's thread: the codec's coroutine on the process's loop."""
        work = self.codec.decode if action == "decode" else self.codec.encode
        future = asyncio.run_coroutine_threadsafe(work(payloads), self.loop)
        return future.result(CODEC_SECONDS)


class CodecRequest(BaseHTTPRequestHandler):
    server: CodecServer
    timeout = SOCKET_SECONDS
    server_version = "mailroom-codec"
    sys_version = ""  # no Python version in the Server header

    def do_OPTIONS(self) -> None:
        """A browser's preflight: answered with CORS headers for a UI origin only."""
        if not self._host_allowed():
            return
        if self._origin() is None:
            self._answer(HTTPStatus.FORBIDDEN, {"error": "origin not allowed"})
            return
        self.send_response(HTTPStatus.NO_CONTENT)
        self.send_header("Access-Control-Allow-Methods", "POST")
        self.send_header("Access-Control-Allow-Headers", ALLOWED_HEADERS)
        self.send_header("Access-Control-Max-Age", str(PREFLIGHT_CACHE_SECONDS))
        self._cors_headers()
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        segments = [s for s in urlsplit(self.path).path.split("/") if s]
        action = segments[-1] if segments else ""
        if not self._host_allowed():
            return
        if action not in ACTIONS:
            self._answer(HTTPStatus.NOT_FOUND, {"error": "POST …/decode or …/encode"})
            return
        if not self.server.access.allows(self.headers.get("Authorization"), segments[:-1]):
            self._answer(HTTPStatus.UNAUTHORIZED, {"error": "the codec token is missing"}, action)
            return
        if action == "encode" and not self.server.encoding:
            refusal: dict[str, object] = {
                "error": "encoding is off (MAILROOM_CODEC_ENCODE): it would seal forgeries"
            }
            self._answer(HTTPStatus.FORBIDDEN, refusal, action)
            return
        try:
            payloads = self._payloads()
            answered = self.server.run_codec(action, payloads)
        except BadRequest as exc:
            self._answer(exc.status, {"error": str(exc)}, action)
            return
        except ValueError as exc:  # the codec's: an unknown key, a tampered payload
            self._answer(HTTPStatus.BAD_REQUEST, {"error": f"cannot {action}: {exc}"}, action)
            return
        except Exception as exc:
            log.error("codec_request_failed", action=action, error=type(exc).__name__)
            self._answer(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"{action} failed"})
            return
        body = json_format.MessageToDict(Payloads(payloads=answered))
        self._answer(HTTPStatus.OK, {"payloads": body.get("payloads", [])}, action)

    def _payloads(self) -> list[Payload]:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            raise BadRequest("a Content-Length is required")
        if int(length) > MAX_BODY_BYTES:
            self.close_connection = True
            raise TooLarge(f"the body is over {MAX_BODY_BYTES} bytes")
        body = self.rfile.read(int(length))
        try:
            message = json_format.Parse(body, Payloads(), ignore_unknown_fields=True)
        except (json_format.ParseError, UnicodeDecodeError) as exc:
            raise BadRequest(f"not a JSON Payloads message: {str(exc)[:200]}") from None
        return list(message.payloads)

    def _refuse_method(self) -> None:
        self.close_connection = True
        self._answer(HTTPStatus.METHOD_NOT_ALLOWED, {"error": "POST only"}, allow=True)

    do_GET = do_HEAD = do_PUT = do_DELETE = do_PATCH = _refuse_method

    def _answer(
        self, status: HTTPStatus, body: dict[str, object], action: str = "", allow: bool = False
    ) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        if allow:
            self.send_header("Allow", "POST, OPTIONS")
        if status == HTTPStatus.UNAUTHORIZED:
            self.send_header("WWW-Authenticate", 'Bearer realm="mailroom codec"')
        if self._origin() is not None:
            self._cors_headers()
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        log.debug("codec_request", method=self.command, action=action, status=int(status))

    def _host_allowed(self) -> bool:
        if self.server.allows_host(self.headers.get("Host")):
            return True
        self.close_connection = True
        self._answer(HTTPStatus.FORBIDDEN, {"error": "not a loopback host name"})
        return False

    def _origin(self) -> str | None:
        origin = self.headers.get("Origin")
        return origin if origin in self.server.access.ui_origins else None

    def _cors_headers(self) -> None:
        self.send_header("Access-Control-Allow-Origin", str(self._origin()))
        # the UI's "include cross-origin credentials" fetches fail without it
        self.send_header("Access-Control-Allow-Credentials", "true")
        self.send_header("Vary", "Origin")

    def log_message(self, format: str, *args: object) -> None:
        """Silenced: the standard library's line holds the path, and the path the token."""
