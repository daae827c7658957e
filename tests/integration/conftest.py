"""Fixtures for integration tests: a throwaway Dovecot per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.dovecot import Dovecot, running_dovecot
from tests.dovecot_config import WITHOUT_IDLE_AND_MOVE


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    """Dovecot with its full capability list (IDLE, MOVE, UIDPLUS)."""
    with running_dovecot() as server:
        yield server


@pytest.fixture
def dovecot_without_idle_and_move() -> Iterator[Dovecot]:
    """Dovecot advertising neither IDLE nor MOVE: polling and COPY + UID EXPUNGE."""
    with running_dovecot(capability=WITHOUT_IDLE_AND_MOVE) as server:
        yield server
