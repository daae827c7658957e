"""`mailroom start` and `mailroom stop` refuse what they cannot do in one line, exit 2,
before reaching Temporal; MAILROOM_FLOW_MODES takes any registered flow."""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path

import pytest

from orchestrator import cli_flows
from orchestrator.cli import main
from orchestrator.cli_flows import flows_table
from orchestrator.flow_checks import FlowRow, QueuePollers
from orchestrator.flow_spec import NoInput
from orchestrator.flows import FLOWS
from orchestrator.settings import SettingsError, load_settings, parse_flow_modes
from use_cases.models import FlowMode

REGISTERED = ", ".join(f.name for f in FLOWS)  # as the registry lists them
THREADED = ", ".join(f.name for f in FLOWS if f.threaded)  # the flows a mode applies to


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("MAILROOM_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MAILROOM_DATA_DIR", str(tmp_path / "data"))
    # nothing listens here: a command that got as far as Temporal would say so instead
    monkeypatch.setenv("MAILROOM_TEMPORAL_ADDRESS", "127.0.0.1:9")


@pytest.fixture(autouse=True)
def _in_process(main_in_this_process: None) -> None:
    """`main` runs in this process here (tests/conftest.py)."""


def refused(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err


def test_starting_an_unknown_flow_names_the_registered_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    err = refused(capsys, "start", "payroll", "--field", "a=b")
    assert f"no flow 'payroll' is registered (flows: {REGISTERED})" in err


def test_a_missing_required_field_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    err = refused(capsys, "start", "procurement", "--field", "items=2 x laptop stand")
    assert "procurement: the field 'requester' is required" in err


def test_a_bad_field_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    err = refused(
        capsys,
        "start",
        "procurement",
        "--field",
        "requester=bob@example.com",
        "--field",
        "items=2 x laptop stand",
        "--field",
        "budget=-1",
    )
    assert "procurement: field 'budget': Input should be greater than or equal to 0" in err


def test_a_field_without_a_value_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    err = refused(capsys, "start", "procurement", "--field", "requester")
    assert "--field 'requester': expected NAME=VALUE" in err


def test_an_input_file_must_hold_a_json_object(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    given = tmp_path / "input.json"
    given.write_text(json.dumps(["bob@example.com"]))
    err = refused(capsys, "start", "procurement", "--input", str(given))
    assert "expected a JSON object of fields" in err
    given.write_text(json.dumps({"requester": "bob@example.com", "items": ["x"]}))
    assert "field 'items': 'x' is not 'N x description'" in refused(
        capsys, "start", "procurement", "--input", str(given)
    )


def test_a_flow_without_an_input_model_cannot_be_started(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    mail_only = dataclasses.replace(FLOWS[1], name="payroll", input=NoInput)
    monkeypatch.setattr(cli_flows, "FLOWS", (*FLOWS, mail_only))
    err = refused(capsys, "start", "payroll", "--field", "a=b")
    assert "mailroom: payroll cannot be started without mail" in err


def test_a_stop_reason_with_control_characters_is_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    err = refused(capsys, "stop", "#K7Q2MX", "--reason", "done\x1b[2J")
    assert "--reason: control or bidi characters are not allowed" in err


def test_flow_modes_name_any_registered_flow() -> None:
    assert parse_flow_modes("support=child", ["procurement", "support", "payroll"]) == {
        "support": "child"
    }
    assert parse_flow_modes("payroll=inline", ["payroll"]) == {"payroll": "inline"}
    with pytest.raises(ValueError, match="digest=inline"):  # it runs alone: no mode
        parse_flow_modes("digest=inline")
    with pytest.raises(ValueError, match=re.escape(f"registered flow ({THREADED})")):
        parse_flow_modes("payroll=child")


def test_an_unregistered_flow_in_flow_modes_fails_start_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MAILROOM_FLOW_MODES", "payroll=child")
    with pytest.raises(SettingsError, match="procurement, support"):
        load_settings()


def test_a_flow_is_served_when_its_queue_has_the_pollers_its_mode_needs() -> None:
    def row(mode: FlowMode, workflows: int, activities: int) -> FlowRow:
        return FlowRow("f", mode, True, QueuePollers("f-queue", workflows, activities))

    assert row(FlowMode.CHILD, 1, 1).served
    assert not row(FlowMode.CHILD, 0, 1).served  # nobody runs the child workflow
    assert not row(FlowMode.CHILD, 1, 0).served
    assert row(FlowMode.INLINE, 0, 1).served  # its workflow code runs in the thread
    assert not row(FlowMode.INLINE, 0, 0).served


def test_the_flows_table_shows_every_flow_then_the_thread_queue() -> None:
    rows = [FlowRow("procurement", FlowMode.CHILD, True, QueuePollers("procurement-queue", 0, 0))]
    lines = flows_table(rows, QueuePollers("mailroom-threads", 2, 3))
    assert lines[1].split() == ["procurement", "procurement-queue", "child", "threaded", "0/0"]
    assert lines[2].split() == ["(threads)", "mailroom-threads", "-", "-", "2/3"]


def test_listing_threads_of_an_unknown_flow_names_the_flows(
    capsys: pytest.CaptureFixture[str],
) -> None:
    err = refused(capsys, "threads", "--flow", "nosuch")
    assert f"--flow: no flow 'nosuch' (flows: {THREADED}, other)" in err
