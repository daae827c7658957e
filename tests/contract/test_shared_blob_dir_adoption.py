"""A blob directory the nodes share (MAILROOM_BLOB_DIR with MAILROOM_DATABASE_URL) is listed
once, by the first node to use it: every later process start must not walk the whole share
(millions of files on NFS) before its first mail can be stored."""

from __future__ import annotations

from collections.abc import Iterable

from adapters.outbound.postgres import migrate
from adapters.outbound.postgres_blob_refs import PostgresBlobReferences
from adapters.outbound.postgres_pool import Database


async def test_a_process_joining_an_adopted_blob_directory_does_not_list_it(
    postgres_url: str,
) -> None:
    migrate(postgres_url)
    database = Database(postgres_url)
    first_node = PostgresBlobReferences(database, lambda: ["a" * 64])
    await first_node.pin("b" * 64)  # adopts the directory
    listings: list[str] = []

    def listing() -> Iterable[str]:
        listings.append("the whole share walked")
        return []

    next_process = PostgresBlobReferences(database, listing)
    await next_process.pin("c" * 64)
    assert listings == []
    assert await next_process.is_referenced("a" * 64)
    await database.close()
