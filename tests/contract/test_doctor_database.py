"""`mailroom doctor`'s database line: ok when the shared PostgreSQL is reached and migrated to
this build's version; a fail line with its fix when it is behind (no worker started on this
build yet), ahead (this machine runs an older build) or unreachable, the password never shown."""

from __future__ import annotations

from adapters.outbound.postgres import MIGRATIONS, connect, migrate
from orchestrator.doctor import database_check
from tests.postgres import PostgresServer


def test_a_migrated_database_is_ok(postgres_url: str) -> None:
    migrate(postgres_url)
    check = database_check(postgres_url)
    assert check.ok, check.line()
    assert f"version {len(MIGRATIONS)}" in check.detail


def test_a_database_no_worker_has_migrated_fails_with_the_fix(postgres_url: str) -> None:
    check = database_check(postgres_url)
    assert not check.ok
    assert "schema version 0" in check.detail and "mailroom worker" in check.fix
    migrate(postgres_url, MIGRATIONS[:-1])
    behind = database_check(postgres_url)
    assert not behind.ok and f"version {len(MIGRATIONS) - 1}" in behind.detail


def test_a_database_migrated_by_a_newer_build_fails_with_the_fix(postgres_url: str) -> None:
    migrate(postgres_url)
    with connect(postgres_url) as db:
        db.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (len(MIGRATIONS) + 1,))
    check = database_check(postgres_url)
    assert not check.ok and "newer" in check.detail and "upgrade" in check.fix


def test_an_unreachable_database_fails_without_showing_its_password(
    postgres_server: PostgresServer,
) -> None:
    url = f"postgresql://mailroom:s3cret-pass@127.0.0.1:{postgres_server.port + 1}/mailroom"
    check = database_check(url)
    assert not check.ok and check.line().startswith("fail database: cannot reach")
    assert "s3cret-pass" not in check.line() and "\n" not in check.line()
    assert "MAILROOM_DATABASE_URL" in check.fix


def test_a_refused_login_fails_without_showing_its_password(
    postgres_server: PostgresServer,
) -> None:
    url = f"postgresql://nobody:s3cret-pass@127.0.0.1:{postgres_server.port}/postgres"
    check = database_check(url)
    assert not check.ok and "nobody" in check.detail  # PostgreSQL's own reason
    assert "s3cret-pass" not in check.line()
