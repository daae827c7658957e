"""The stores that keep a PostgreSQL connection open (sent log, thread index, automatic-mail
log) survive its loss (a database restart, a failover, an idle timeout): the call that meets
the dead connection fails, for its activity to retry, and the next call connects again."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest

from adapters.outbound.postgres import migrate
from adapters.outbound.postgres_sent_log import PostgresSentLog
from adapters.outbound.postgres_thread_index import PostgresThreadIndex
from use_cases.models import ThreadEntry


def cut_every_connection(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


def test_the_sent_log_connects_again_after_losing_its_connection(postgres_url: str) -> None:
    migrate(postgres_url)
    log = PostgresSentLog(postgres_url)
    log.record("<a@x>")
    cut_every_connection(postgres_url)
    with pytest.raises(psycopg.OperationalError):
        log.was_sent("<a@x>")
    assert log.was_sent("<a@x>")


async def test_the_thread_index_connects_again_after_losing_its_connection(
    postgres_url: str,
) -> None:
    migrate(postgres_url)
    index = PostgresThreadIndex(postgres_url)
    entry = ThreadEntry(workflow_id="t1", message_ids=("<a@x>",), at=datetime.now(UTC))
    await index.record("sales", "t1", entry)
    cut_every_connection(postgres_url)
    with pytest.raises(psycopg.OperationalError):
        await index.threads_of(["<a@x>"], "sales")
    assert await index.threads_of(["<a@x>"], "sales") == {"<a@x>": "t1"}
    await index.close()
