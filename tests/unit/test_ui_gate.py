"""The read-only gate's two decisions (adapters/inbound/ui_gate.py): which requests only read,
and the UI settings it hands out. The gate in front of a real UI server:
tests/integration/test_web_ui_gate.py."""

from __future__ import annotations

import json

import pytest

from adapters.inbound.ui_gate import WRITE_SWITCHES, is_read, read_only_settings

QUERY = "/api/v1/namespaces/default/workflows/thread-support%40x-1/query/__stack_trace"


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS"])
def test_reads_pass(method: str) -> None:
    assert is_read(method, "/api/v1/namespaces/default/workflows?query=x")
    assert is_read(method, "/_app/immutable/start.js")


@pytest.mark.parametrize(
    "path", [QUERY, QUERY + "?x=1", "/api/v1/namespaces/n/workflows/w/query/state"]
)
def test_a_workflow_query_is_a_read(path: str) -> None:
    assert is_read("POST", path)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/namespaces/n/workflows/w/terminate"),
        ("POST", "/api/v1/namespaces/n/workflows/w/signal/approve"),
        ("POST", "/api/v1/namespaces/n/workflows/w"),  # start
        ("POST", "/api/v1/namespaces/n/batch-operations/job"),
        ("POST", "/api/v1/namespaces/n/workflows/w/query/.."),  # resolved to a start
        ("POST", "/api/v1/namespaces/n/workflows/../query/x"),
        ("POST", "/api/v1/namespaces/n/workflows/w/query/%2e%2E"),
        ("POST", "/api/v1/namespaces/n/workflows/w/query/a%2Fb"),
        ("POST", "/api/v1/namespaces/n/workflows/w/query/a\\b"),
        ("POST", "/api/v1/namespaces/n/workflows/w/query/x/extra"),
        ("POST", "/api/v1/x/api/v1/namespaces/n/workflows/w/query/x"),
        ("PUT", QUERY),
        ("DELETE", "/api/v1/namespaces/n/schedules/s"),
        ("PATCH", "/api/v1/namespaces/n/schedules/s"),
    ],
)
def test_everything_else_is_a_write(method: str, path: str) -> None:
    assert not is_read(method, path)


def test_the_settings_handed_out_turn_every_write_action_off() -> None:
    served = {
        "DisableWriteActions": False,
        "WorkflowTerminateDisabled": False,
        "WorkflowRewindDisabled": False,  # a later UI's switch
        "RefreshWorkflowCountsDisabled": False,  # not a write action
        "Codec": {"Endpoint": "http://127.0.0.1:8234/token"},
    }
    shown = json.loads(read_only_settings(json.dumps(served).encode()))
    assert all(shown[switch] is True for switch in WRITE_SWITCHES)
    assert shown["WorkflowRewindDisabled"] is True
    assert shown["RefreshWorkflowCountsDisabled"] is False
    assert shown["Codec"] == served["Codec"]


@pytest.mark.parametrize("body", [b"[]", b"not json", b""])
def test_settings_that_are_not_an_object_are_not_handed_out(body: bytes) -> None:
    with pytest.raises(ValueError):
        read_only_settings(body)
