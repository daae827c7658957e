"""A ThreadingHTTPServer with bounds (the codec server's, adapters/inbound/codec_server.py):
it runs in a worker's process, and whoever reaches its port, token or not, could otherwise
hold a thread there per idle connection, or per connection sending a byte at a time (each
read is within its socket timeout), without end."""

from __future__ import annotations

import contextlib
import socket
import sys
from http.server import ThreadingHTTPServer
from threading import Lock, Thread, Timer
from typing import Any
from urllib.parse import urlsplit

import structlog

from adapters.inbound.smtp_admission import is_loopback as is_loopback_address

log = structlog.get_logger()

# A connection's whole life, reading included.
REQUEST_SECONDS = 60.0
# Connections served at once, each on a thread of its own; more are closed unread. The Web
# UI asks a few at a time.
MAX_CONNECTIONS = 32
LOOPBACK_NAMES = frozenset({"localhost"})


class BoundedHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: Any,
        *,
        max_connections: int = MAX_CONNECTIONS,
        request_seconds: float = REQUEST_SECONDS,
    ) -> None:
        super().__init__(address, handler)
        self.request_seconds = request_seconds
        self.max_connections = max_connections
        self._open = 0
        self._counting = Lock()
        self.loopback = is_loopback(self.host)

    @property
    def host(self) -> str:
        return str(self.server_address[0])

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def serve_in_thread(self, name: str) -> Thread:
        thread = Thread(target=self.serve_forever, name=name, daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        self.shutdown()
        self.server_close()

    def allows_host(self, host_header: str | None) -> bool:
        """Served on loopback, a request must name a loopback host: a page whose DNS name
        was rebound to 127.0.0.1 calls as its own origin, past CORS, but names its host."""
        if not self.loopback:
            return True
        try:
            host = urlsplit(f"//{host_header or ''}").hostname or ""
        except ValueError:  # "[not an address"
            host = ""
        return is_loopback(host)

    def connections_open(self) -> int:
        return self._open

    def process_request(self, request: Any, client_address: Any) -> None:
        """A thread for the connection while there is room; else it is closed unread."""
        with self._counting:
            room = self._open < self.max_connections
            self._open += room
        if not room:
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._done()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        timer = Timer(self.request_seconds, _cut_off, (request,))
        timer.start()
        try:
            super().process_request_thread(request, client_address)
        finally:
            timer.cancel()
            self._done()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """One line, not the standard library's traceback on stderr (a client gone
        mid-answer, a connection cut off at its deadline)."""
        log.warning("http_connection_failed", error=type(sys.exc_info()[1]).__name__)

    def _done(self) -> None:
        with self._counting:
            self._open -= 1


def is_loopback(host: str) -> bool:
    """`localhost`, or a loopback address (127.0.0.0/8, ::1, ::ffff:127.0.0.1), as the SMTP
    front door tells its own."""
    return host in LOOPBACK_NAMES or is_loopback_address(host)


def _cut_off(connection: socket.socket) -> None:
    """A connection past its deadline: its thread's blocked read or write returns."""
    with contextlib.suppress(OSError):
        connection.shutdown(socket.SHUT_RDWR)
