"""The OAuth2 token introspection endpoint (RFC 7662) the test Dovecot's oauth2 passdb asks."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.dovecot_config import USER
from tests.support import free_port


class Introspection:
    """The OAuth2 token introspection endpoint (RFC 7662) Dovecot's oauth2 passdb asks.

    A small HTTP server on its own thread: `token` is active and belongs to `user`, every
    other token is inactive. Change `token` to revoke the old one. `asked` lists the tokens
    it was asked about, in order: what Dovecot actually received from the client.
    """

    path = "/introspect"

    def __init__(self, token: str, user: str = USER) -> None:
        self.token = token
        self.user = user
        self.asked: list[str] = []
        self.port = free_port()
        self._server = _IntrospectionServer(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="introspection", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def answer(self, token: str) -> dict[str, object]:
        self.asked.append(token)
        if token and token == self.token:
            return {"active": True, "username": self.user, "scope": "imap"}
        return {"active": False}

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=10)
        self._server.server_close()


class _IntrospectionServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, introspection: Introspection) -> None:
        self.introspection = introspection
        super().__init__(("127.0.0.1", introspection.port), _IntrospectionHandler)


class _IntrospectionHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # introspection_mode = post: a form with `token=`
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode("utf-8", "replace"))
        self._reply(form.get("token", [""])[0])

    def do_GET(self) -> None:  # introspection_mode = auth: the token as a Bearer header
        scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
        self._reply(token if scheme.lower() == "bearer" else "")

    def _reply(self, token: str) -> None:
        if urlsplit(self.path).path != Introspection.path:
            self.send_error(404)
            return
        assert isinstance(self.server, _IntrospectionServer)
        body = json.dumps(self.server.introspection.answer(token)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the tests look at `asked` and Dovecot's log
