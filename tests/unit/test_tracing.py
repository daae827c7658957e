"""Tracing is on only when the standard OTel variables ask for it, exports OTLP over HTTP to
the endpoint they name, and puts trace_id on the log lines written inside a span."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from orchestrator.settings import SettingsError
from orchestrator.tracing import exporters_asked, tracer_provider
from tests.conftest import ROOT
from tests.otlp_collector import otlp_collector
from tests.support import run_mailroom

ENDPOINT = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}


def run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def without_otel() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}


NOTHING_SET = """
import sys
from opentelemetry import trace
from orchestrator.tracing import client_interceptors, configure_tracing
print(configure_tracing(), type(trace.get_tracer_provider()).__name__, client_interceptors(),
      "opentelemetry.sdk" in sys.modules)
"""


def test_with_no_otel_endpoint_no_provider_is_installed_and_the_client_gets_no_interceptor() -> (
    None
):
    done = run_python(NOTHING_SET, without_otel())
    # The API's proxy stays (no-op spans), and the SDK is never even imported.
    assert done.stdout.split() == ["None", "ProxyTracerProvider", "[]", "False"]


@pytest.mark.parametrize(
    ("environ", "asked"),
    [
        ({}, []),
        (ENDPOINT, ["otlp"]),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, ["otlp"]),
        ({**ENDPOINT, "OTEL_TRACES_EXPORTER": "none"}, []),
        ({**ENDPOINT, "OTEL_SDK_DISABLED": "true"}, []),
        ({"OTEL_TRACES_EXPORTER": "console"}, ["console"]),
        ({"OTEL_TRACES_EXPORTER": "otlp, console"}, ["otlp", "console"]),
    ],
)
def test_tracing_is_on_only_when_the_otel_variables_ask_for_it(
    environ: dict[str, str], asked: list[str]
) -> None:
    assert exporters_asked(environ) == asked


def test_an_exporter_mailroom_lacks_is_a_one_line_settings_error() -> None:
    with pytest.raises(SettingsError, match="OTEL_TRACES_EXPORTER: 'zipkin'"):
        exporters_asked({"OTEL_TRACES_EXPORTER": "zipkin"})
    with pytest.raises(SettingsError, match=r"OTEL_EXPORTER_OTLP_PROTOCOL: .*http/protobuf"):
        tracer_provider({**ENDPOINT, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})


def test_the_service_is_named_mailroom_unless_otel_service_name_says_otherwise() -> None:
    for environ, name in [(ENDPOINT, "mailroom"), ({**ENDPOINT, "OTEL_SERVICE_NAME": "mx"}, "mx")]:
        provider = tracer_provider(environ)
        assert provider is not None
        assert provider.resource.attributes["service.name"] == name
        provider.shutdown()


def test_spans_are_exported_over_otlp_http_to_the_endpoint_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with otlp_collector() as collector:
        # The exporter reads its own variables from the environment, as in production.
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url)
        provider = tracer_provider(os.environ)
        assert provider is not None
        with provider.get_tracer("test").start_as_current_span("smtp.receive"):
            pass
        assert provider.force_flush(10_000)
        provider.shutdown()
    assert [path for path, _ in collector.posts] == ["/v1/traces"]
    [(resource, span)] = collector.spans()
    assert resource["service.name"] == "mailroom"
    assert span.name == "smtp.receive"


LOGS_IN_AND_OUT_OF_A_SPAN = """
import logging, structlog
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from orchestrator.logs import configure_logging

configure_logging("info")
structlog.get_logger().info("outside")
with TracerProvider().get_tracer("test").start_as_current_span("smtp.receive") as span:
    print(trace.format_trace_id(span.get_span_context().trace_id))
    structlog.get_logger().info("mailroom_line")
    logging.getLogger("temporalio.worker").warning("sdk line")
"""


def test_a_log_line_written_inside_a_span_carries_its_trace_id() -> None:
    done = run_python(LOGS_IN_AND_OUT_OF_A_SPAN, without_otel())
    trace_id = done.stdout.strip()
    lines = {line["event"]: line for line in map(json.loads, done.stderr.splitlines())}
    assert lines["mailroom_line"]["trace_id"] == trace_id
    assert lines["sdk line"]["trace_id"] == trace_id  # stdlib records too
    assert len(lines["mailroom_line"]["span_id"]) == 16
    assert "trace_id" not in lines["outside"]


async def test_mailroom_with_a_trace_exporter_it_lacks_stops_with_one_line(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in without_otel().items() if not k.startswith("MAILROOM_")},
        "MAILROOM_DATA_DIR": str(tmp_path),
        "OTEL_TRACES_EXPORTER": "zipkin",
    }
    code, _, err = await run_mailroom("threads", env=env)
    assert code == 2
    [line] = err.strip().splitlines()
    assert "OTEL_TRACES_EXPORTER: 'zipkin' is not one mailroom has" in line


class RelayRefused(Exception):
    pass


def test_an_exported_span_keeps_an_errors_type_but_not_its_message_which_may_name_an_address(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A relay's 550 names the refused recipient; the SDK's interceptor puts an activity's
    exception in its span's status and an `exception` event: a trace back-end gets neither
    message, only what kind of error it was."""
    provider = tracer_provider({"OTEL_TRACES_EXPORTER": "console"})  # spans on stderr
    assert provider is not None
    refused = RelayRefused("550 5.1.1 <bob@example.com>: Recipient address rejected")
    tracer = provider.get_tracer("test")
    with pytest.raises(RelayRefused), tracer.start_as_current_span("smtp.relay"):
        raise refused  # recorded by the span itself
    with tracer.start_as_current_span("RunActivity:send_email", set_status_on_exception=False):
        span = trace.get_current_span()
        span.set_status(Status(StatusCode.ERROR, f"RelayRefused: {refused}"))  # as the SDK's
        span.record_exception(refused)
    provider.shutdown()
    exported = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [s["name"] for s in exported] == ["smtp.relay", "RunActivity:send_email"]
    assert "bob@example.com" not in json.dumps(exported)
    for span in exported:
        assert span["status"]["status_code"] == "ERROR"
        assert span["status"]["description"] == "RelayRefused"
        [event] = span["events"]
        assert event["attributes"]["exception.type"].endswith("RelayRefused")


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}, "OTEL_EXPORTER_OTLP_ENDPOINT"),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "4318"}, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
        ({**ENDPOINT, "OTEL_BSP_MAX_QUEUE_SIZE": "-1"}, "max_queue_size"),
    ],
)
def test_an_otel_setting_the_exporter_cannot_use_stops_the_start_with_a_settings_error(
    environ: dict[str, str], named: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not a start that looks fine and then loses every span (an endpoint without its
    http:// is an unusable URL to the exporter), nor an 'unexpected ValueError'."""
    for name, value in environ.items():  # the SDK reads its own variables from os.environ
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=named):
        tracer_provider(os.environ)
