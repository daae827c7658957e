"""Who an operator command acts as: a name, never the unix account."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from orchestrator.cli_errors import CliError
from orchestrator.cli_output import UNSAFE
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


NOT_NAMES = [
    "",
    "   ",
    "eve\x1b[2J",
    "eve\x07",
    "a\tb",
    "a\x85b",
    "\u202eecila",  # shows as "alice"
    "a\u2028b",
    "a\u2029b",
    "\u2066alice\u2069",
    "x" * 101,
]


@pytest.mark.parametrize("given", NOT_NAMES)
def test_by_without_a_printable_name_is_refused(given: str) -> None:
    with pytest.raises(CliError, match="--by") as refused:
        operator_name(load_settings(), given)
    assert UNSAFE.search(str(refused.value)) is None, "the refusal shows it escaped"


@pytest.mark.parametrize("given", NOT_NAMES)
def test_an_operator_setting_that_is_no_printable_name_is_refused_like_by(
    monkeypatch: pytest.MonkeyPatch, given: str
) -> None:
    monkeypatch.setenv("MAILROOM_OPERATOR", given)
    with pytest.raises(SettingsError, match="MAILROOM_OPERATOR: give a name"):
        load_settings()


def test_the_operator_setting_is_stripped_like_by(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILROOM_OPERATOR", "  Alice Martin \n")
    assert operator_name(load_settings(), None) == "Alice Martin"
    assert operator_name(load_settings(), "x" * 100) == "x" * 100
