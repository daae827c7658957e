"""One encryption key for the tests' shared dev server: its client (tests/conftest.py), every
in-process stack and every `mailroom` command a test runs on a stack's data directory seal
and open payloads with it, as one installation's processes do with theirs."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from adapters.outbound.key_ring import KeyRing
from orchestrator.bootstrap import sealing_converter
from orchestrator.encryption_keys import KEY_FILE, MADE_KEY_ID

TEST_KEY = hashlib.sha256(b"mailroom tests' payload key").digest()
TEST_RING = KeyRing(((MADE_KEY_ID, TEST_KEY),))
TEST_CONVERTER = sealing_converter(TEST_RING)  # refuses plain payloads, as mailroom's does
# MAILROOM_ACCEPT_PLAINTEXT_PAYLOADS: histories recorded before encryption replay with it
ACCEPTING_CONVERTER = sealing_converter(TEST_RING, accept_plaintext=True)


def give_test_key(data_dir: Path) -> None:
    """The key a mailroom would make in `data_dir`, made now as the tests' one (kept if
    there is one: a test that restarts a stack keeps its directory's key)."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = data_dir / KEY_FILE
    if path.exists():
        return
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(TEST_KEY.hex())
