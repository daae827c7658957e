"""The IMAP checkpoints and quarantine record, on SQLite and PostgreSQL: a checkpoint saved
by one node is where another resumes the source, a new UIDVALIDITY replaces the old one, and
the mail set aside is listed newest first by any node, a second record of one UID replacing
the first."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.inbound.imap_checkpoint import Checkpoint, Quarantined
from orchestrator.bootstrap import bootstrap
from orchestrator.services import imap_checkpoints
from orchestrator.settings import load_settings
from tests.contract.conftest import Stores

SOURCE = "imaps://sales@imap.example.com/INBOX"


def test_a_checkpoint_saved_by_one_node_is_where_another_resumes(stores: Stores) -> None:
    one, other = stores("imap_checkpoints"), stores("imap_checkpoints")
    assert other.load(SOURCE) is None
    one.save(SOURCE, Checkpoint(uidvalidity=7, last_uid=41))
    one.save(SOURCE, Checkpoint(uidvalidity=7, last_uid=42))
    assert other.load(SOURCE) == Checkpoint(uidvalidity=7, last_uid=42)
    assert other.load("imaps://support@imap.example.com/INBOX") is None


def test_a_new_uidvalidity_replaces_the_old_checkpoint(stores: Stores) -> None:
    store = stores("imap_checkpoints")
    store.save(SOURCE, Checkpoint(uidvalidity=7, last_uid=4_000_000_000))
    store.save(SOURCE, Checkpoint(uidvalidity=8, last_uid=0))
    assert stores("imap_checkpoints").load(SOURCE) == Checkpoint(uidvalidity=8, last_uid=0)


def test_mail_set_aside_is_listed_newest_first_on_any_node(stores: Stores) -> None:
    one = stores("imap_checkpoints")
    for uid in (3, 5, 4):
        one.quarantine(SOURCE, Quarantined(7, uid, f"<m{uid}@x>", "unparseable", "Quarantine"))
    one.quarantine(SOURCE, Quarantined(7, 3, "<m3@x>", "too big", None))  # again: latest wins
    other = stores("imap_checkpoints")
    listed = other.quarantined(SOURCE)
    assert [q.uid for q in listed] == [3, 4, 5]
    assert listed[0].reason == "too big" and listed[0].moved_to is None
    assert listed[1].moved_to == "Quarantine" and listed[0].at >= listed[1].at
    assert listed[0].at.endswith("Z") and "left in place" in listed[0].line()
    assert other.quarantined_count(SOURCE) == 3
    assert [q.uid for q in other.quarantined(SOURCE, limit=2)] == [3, 4]
    assert other.quarantined_count("imaps://support@imap.example.com/INBOX") == 0


def test_two_nodes_on_one_database_share_imap_checkpoints(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAILROOM_DATABASE_URL", postgres_url)
    nodes = []
    for name in ("a", "b"):
        monkeypatch.setenv("MAILROOM_DATA_DIR", str(tmp_path / name))
        nodes.append(imap_checkpoints(bootstrap(load_settings())))
    nodes[0].save(SOURCE, Checkpoint(uidvalidity=7, last_uid=42))
    assert nodes[1].load(SOURCE) == Checkpoint(uidvalidity=7, last_uid=42)
    assert not (tmp_path / "a" / "imap.sqlite").exists()
