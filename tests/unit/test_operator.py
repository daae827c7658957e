"""Who an operator command acts as: a name, never the unix account."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from orchestrator.cli_errors import CliError
from orchestrator.operator import operator_name
from orchestrator.settings import SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("MAILROOM_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_without_by_the_operator_is_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert operator_name(load_settings(), None) == "operator"
    monkeypatch.setenv("MAILROOM_OPERATOR", "Alice Martin")
    assert operator_name(load_settings(), None) == "Alice Martin"


def test_by_names_the_operator_for_one_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILROOM_OPERATOR", "alice")
    assert operator_name(load_settings(), "  bob ") == "bob"


@pytest.mark.parametrize("given", ["", "   ", "eve\x1b[2J", "mallory\u202e"])
def test_by_without_a_printable_name_is_refused(given: str) -> None:
    with pytest.raises(CliError, match="--by"):
        operator_name(load_settings(), given)


def test_an_operator_setting_with_control_characters_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MAILROOM_OPERATOR", "eve\x07")
    with pytest.raises(SettingsError, match="MAILROOM_OPERATOR"):
        load_settings()
