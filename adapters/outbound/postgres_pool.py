"""One process's connections to the shared database (MAILROOM_DATABASE_URL): a pool every
PostgreSQL adapter of the process borrows from, instead of a connection per call (a connect,
TLS and authentication included, costs milliseconds: more than the statements of a call).

Two pools behind one object, both opened on first use: an asyncio one for the adapters called
from the event loop, a threaded one for those called from threads (the relay's sent log, the
IMAP checkpoints, the CLI's listings). A connection is checked before it is lent, so a
database restart or a failover costs no failed call; one returned broken, or by a call
cancelled mid-statement, is thrown away and replaced. A call spanning a transaction has its
connection to itself until it returns it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, TypeVar

from psycopg_pool import AsyncConnectionPool, ConnectionPool

from adapters.outbound.postgres import (
    CONNECT_TIMEOUT_SECONDS,
    AsyncConnection,
    Connection,
    without_nul_bytes,
)

T = TypeVar("T")

# Connections each pool may hold (MAILROOM_DATABASE_POOL_SIZE): calls beyond it wait their
# turn. A worker runs a few activities at once and each holds a connection for a few
# statements; PostgreSQL's default max_connections (100) leaves room for several processes.
DEFAULT_POOL_SIZE = 10
SETTINGS: dict[str, Any] = {"autocommit": True, "connect_timeout": CONNECT_TIMEOUT_SECONDS}


class DatabaseClosed(RuntimeError):
    """A call after `Database.close`: at shutdown, a part still running past the stores."""


class Database:
    def __init__(self, url: str, max_size: int = DEFAULT_POOL_SIZE) -> None:
        self.url = url
        self.max_size = max_size
        self._threaded: ConnectionPool[Connection] | None = None
        self._threaded_lock = threading.Lock()
        self._async: AsyncConnectionPool[AsyncConnection] | None = None
        self._async_opened: asyncio.Future[None] | None = None  # shared by the first callers
        self._async_loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A connection for a call from a thread (autocommit), returned when the block ends."""
        with self._threaded_pool().connection() as db:
            yield db

    @asynccontextmanager
    async def connection_async(self) -> AsyncIterator[AsyncConnection]:
        """A connection for a call on the event loop (autocommit), returned at the end."""
        pool = await self._async_pool()
        async with pool.connection() as db:
            yield db

    async def run(self, fn: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        async with self.connection_async() as db:
            return await fn(db)

    async def close(self) -> None:
        """Close both pools (at shutdown, on the loop that used the asyncio one). A call
        after this raises DatabaseClosed: a new pool would be one nothing closes."""
        self._closed = True
        pool, self._async, self._async_opened = self._async, None, None
        if pool is not None and self._async_loop is asyncio.get_running_loop():
            await pool.close()
        with self._threaded_lock:
            threaded, self._threaded = self._threaded, None
        if threaded is not None:
            await asyncio.to_thread(threaded.close)

    def _threaded_pool(self) -> ConnectionPool[Connection]:
        with self._threaded_lock:
            self._check_open()
            if self._threaded is None:
                self._threaded = ConnectionPool(
                    self.url, **self._sizes(), kwargs=SETTINGS, open=True,
                    configure=_without_nul_bytes, check=ConnectionPool.check_connection,
                )  # fmt: skip
            return self._threaded

    async def _async_pool(self) -> AsyncConnectionPool[AsyncConnection]:
        self._check_open()
        loop = asyncio.get_running_loop()
        if self._async is None or self._async_opened is None or self._async_loop is not loop:
            # An asyncio pool lives on one loop; a CLI command may run several in turn.
            _retire(self._async, self._async_loop)
            self._async = AsyncConnectionPool(
                self.url, **self._sizes(), kwargs=SETTINGS, open=False,
                configure=_without_nul_bytes_async, check=AsyncConnectionPool.check_connection,
            )  # fmt: skip
            self._async_loop = loop
            self._async_opened = asyncio.ensure_future(self._async.open())
        pool = self._async
        await asyncio.shield(self._async_opened)
        return pool

    def _check_open(self) -> None:
        if self._closed:
            raise DatabaseClosed("the database pool is closed: a call after shutdown")

    def _sizes(self) -> dict[str, Any]:
        # None kept open while idle: a CLI command or a quiet part costs the server nothing.
        return {"min_size": 0, "max_size": self.max_size, "timeout": CONNECT_TIMEOUT_SECONDS}


def _retire(
    pool: AsyncConnectionPool[AsyncConnection] | None, loop: asyncio.AbstractEventLoop | None
) -> None:
    """Close the pool of a loop this process no longer calls from. Only its own loop can
    (its workers are that loop's tasks): scheduled there while the loop is open. The pool
    of a loop already closed has no workers left; dropping it frees it at once (no cycle
    holds it) and psycopg closes each idle connection as it is freed."""
    if pool is not None and loop is not None and not loop.is_closed():
        asyncio.run_coroutine_threadsafe(pool.close(), loop)


def _without_nul_bytes(db: Connection) -> None:
    without_nul_bytes(db)


async def _without_nul_bytes_async(db: AsyncConnection) -> None:
    without_nul_bytes(db)


def database(target: str | Database) -> Database:
    """The shared pool an adapter was given, or one of its own for a bare URL (tests)."""
    return target if isinstance(target, Database) else Database(target)
