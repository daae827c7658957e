"""The thread metrics' `mailbox` label takes only mailboxes the settings name: mail to any
other local part at our domains is counted as `other` (workflows/metrics.py)."""

from __future__ import annotations

from pathlib import Path

from orchestrator.flow_settings import flow_config
from orchestrator.settings import Settings
from workflows.metrics import mailbox_label

IMAP = "imaps://u:p@imap.example.com/INBOX?mailbox=orders@mailroom.local&name=orders"


def settings(tmp_path: Path, **fields: object) -> Settings:
    return Settings.model_validate({"data_dir": tmp_path, "domains": ["mailroom.local"], **fields})


def test_the_listed_mailboxes_are_the_counted_ones(tmp_path: Path) -> None:
    s = settings(tmp_path, mailboxes=["Support@mailroom.local", "orders@mailroom.local"])

    counted = flow_config(s).counted_mailboxes

    assert counted == (
        "orders@mailroom.local",
        "postmaster@mailroom.local",  # mail to postmaster at any of ours goes there
        "support@mailroom.local",
    )
    assert mailbox_label("support@mailroom.local", counted) == "support@mailroom.local"
    assert mailbox_label("made-up-123@mailroom.local", counted) == "other"


def test_without_a_list_only_the_imap_sources_mailboxes_become_labels(tmp_path: Path) -> None:
    counted = flow_config(settings(tmp_path, imap_sources=[IMAP])).counted_mailboxes

    assert counted == ("orders@mailroom.local", "postmaster@mailroom.local")
    assert mailbox_label("orders@mailroom.local", counted) == "orders@mailroom.local"
    assert mailbox_label("anything@mailroom.local", counted) == "other"
