"""The reply token's key with MAILROOM_DATABASE_URL: every node naming the database signs
with the one key the first node made there (a reply reaching any node's adapter is checked
with the key that signed it); without the URL it stays the data directory's key file."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.outbound.postgres import migrate
from orchestrator.bootstrap import REPLY_TOKEN_KEY_FILE, reply_token_key
from orchestrator.settings import load_settings
from tests.postgres import PostgresServer
from use_cases.threading import reply_token


def node_key(monkeypatch: pytest.MonkeyPatch, data_dir: Path, url: str = "") -> bytes:
    monkeypatch.setenv("MAILROOM_DATA_DIR", str(data_dir))
    if url:
        monkeypatch.setenv("MAILROOM_DATABASE_URL", url)
    else:
        monkeypatch.delenv("MAILROOM_DATABASE_URL", raising=False)
    monkeypatch.delenv("MAILROOM_REPLY_TOKEN_SECRET", raising=False)
    return reply_token_key(load_settings())


def test_two_nodes_on_one_database_sign_reply_tokens_with_one_key(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    migrate(postgres_url)
    first = node_key(monkeypatch, tmp_path / "a", postgres_url)
    second = node_key(monkeypatch, tmp_path / "b", postgres_url)
    assert first == second and len(first) == 64  # 32 random bytes, hex
    assert reply_token("sales-t1", first) == reply_token("sales-t1", second)
    assert node_key(monkeypatch, tmp_path / "a", postgres_url) == first  # a restart keeps it
    assert not (tmp_path / "a" / REPLY_TOKEN_KEY_FILE).exists()


def test_separate_databases_get_separate_keys(
    postgres_server: PostgresServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    urls = [postgres_server.create_database() for _ in range(2)]
    for url in urls:
        migrate(url)
    one = node_key(monkeypatch, tmp_path / "a", urls[0])
    assert node_key(monkeypatch, tmp_path / "b", urls[1]) != one


def test_without_a_database_url_each_data_directory_keeps_its_own_key_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = node_key(monkeypatch, tmp_path / "a")
    assert node_key(monkeypatch, tmp_path / "a") == first
    assert (tmp_path / "a" / REPLY_TOKEN_KEY_FILE).read_bytes().strip() == first
    assert node_key(monkeypatch, tmp_path / "b") != first


def test_a_configured_secret_wins_over_the_database(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    migrate(postgres_url)
    monkeypatch.setenv("MAILROOM_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("MAILROOM_DATABASE_URL", postgres_url)
    monkeypatch.setenv("MAILROOM_REPLY_TOKEN_SECRET", "k" * 32)
    assert reply_token_key(load_settings()) == b"k" * 32
