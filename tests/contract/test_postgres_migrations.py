"""Schema migrations on a real PostgreSQL: applied once, in order, however many nodes start
at once; a later release's migration applied on its first start; a database that cannot be
reached or used is named in one line."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from adapters.outbound.postgres import MIGRATIONS, DatabaseUnavailable, migrate
from tests.postgres import PostgresServer


def versions(url: str) -> list[int]:
    with psycopg.connect(url) as db:
        return [v for (v,) in db.execute("SELECT version FROM schema_migrations ORDER BY 1")]


def test_nodes_starting_at_once_apply_each_migration_once(postgres_url: str) -> None:
    with ThreadPoolExecutor(max_workers=6) as nodes:
        reached = list(nodes.map(lambda _: migrate(postgres_url), range(6)))
    assert reached == [len(MIGRATIONS)] * 6
    assert versions(postgres_url) == list(range(1, len(MIGRATIONS) + 1))


def test_a_later_release_applies_only_its_new_migration(postgres_url: str) -> None:
    migrate(postgres_url)
    later = (*MIGRATIONS, "CREATE TABLE added_later (id INTEGER)")
    assert migrate(postgres_url, later) == len(later)
    assert migrate(postgres_url, later) == len(later)  # a restart changes nothing
    assert versions(postgres_url)[-1] == len(later)


def test_a_failing_migration_leaves_the_database_at_the_last_good_version(
    postgres_url: str,
) -> None:
    broken = (*MIGRATIONS, "CREATE TABLE half (id INTEGER); SELECT no_such_function()")
    with pytest.raises(DatabaseUnavailable, match="no_such_function"):
        migrate(postgres_url, broken)
    assert versions(postgres_url)[-1] == len(MIGRATIONS)
    fixed = (*MIGRATIONS, "CREATE TABLE half (id INTEGER)")
    assert migrate(postgres_url, fixed) == len(fixed)  # the half-made table was rolled back


def test_an_unreachable_or_missing_database_is_named_in_one_line(
    postgres_server: PostgresServer,
) -> None:
    for url in (
        f"postgresql://mailroom@127.0.0.1:{postgres_server.port + 1}/x",
        postgres_server.url("no_such_db"),
    ):
        with pytest.raises(DatabaseUnavailable) as refused:
            migrate(url)
        assert "\n" not in str(refused.value) and str(refused.value)
    assert "no_such_db" in str(refused.value)
