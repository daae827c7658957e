"""A scrape of a running `mailroom up` shows mailroom's SMTP intake counters, every metric
of the catalogue the processes record (declared from the start), each intake source's
gauges, and the Temporal SDK's own metrics (issue 21, item 1), on MAILROOM_METRICS_ADDRESS."""

from __future__ import annotations

import asyncio
import os
import smtplib
import socket
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import FIXTURES
from tests.integration.test_up import mailroom_up, stop, up_env
from tests.stack import send_mail
from tests.support import free_port, run_mailroom, wait_for
from use_cases.metric_catalogue import CATALOGUE

pytestmark = pytest.mark.slow


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return str(response.read().decode())


async def test_a_scrape_of_mailroom_up_counts_mail_and_declares_every_process_metric(
    tmp_path: Path,
) -> None:
    metrics = free_port()
    env = up_env(
        tmp_path / "data",
        MAILROOM_METRICS_ADDRESS=f"127.0.0.1:{metrics}",
        MAILROOM_INTAKE_EXPECTED_INTERVAL="4h",
    )
    smtp_port = int(env["MAILROOM_SMTP_PORT"])
    question = (FIXTURES / "support_question.eml").read_bytes()
    async with mailroom_up(env) as up:
        await asyncio.to_thread(
            send_mail, smtp_port, question, ["support@mailroom.local"], "alice@example.com"
        )
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            await asyncio.to_thread(
                send_mail, smtp_port, question, ["nobody@elsewhere.example"], "a@example.com"
            )
        ours = await wait_for(lambda: sdk_metrics_in(metrics), what="the SDK's metrics")
        assert await stop(up) == 0
    assert "mailroom_smtp_mails_received_total 1.0" in ours
    assert (
        'mailroom_smtp_mails_total{code="250",outcome="accepted",reason="queued",stage="data"} 1.0'
        in ours
    )
    assert (
        'mailroom_smtp_mails_total{code="550",outcome="refused",reason="unknown_recipient",'
        'stage="rcpt"} 1.0' in ours
    )
    assert 'mailroom_handoff_seconds_count{outcome="accepted"} 1.0' in ours
    assert "\ntemporal_request_total{" in ours
    assert 'mailroom_intake_expected_interval_seconds{source="smtp"} 14400.0' in ours
    assert 'mailroom_intake_last_accepted_timestamp_seconds{source="smtp"} ' in ours
    assert "nobody" not in ours, "a refused recipient is never a label"

    for spec in CATALOGUE:  # every metric the processes record, declared from the start
        if spec.origin == "process":
            typed = f"{spec.name}_total" if spec.kind == "counter" else spec.name
            assert f"\n# TYPE {typed} {spec.kind}\n" in ours, spec.name


async def sdk_metrics_in(port: int) -> str | None:
    """The scrape once the SDK's metrics are in it (drained each second and at a scrape)."""
    scraped = await asyncio.to_thread(scrape, port)
    return scraped if "\ntemporal_" in scraped else None


async def test_a_metrics_address_already_taken_stops_mailroom_smtp_in_one_line(
    tmp_path: Path,
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("MAILROOM_")},
            "MAILROOM_DATA_DIR": str(tmp_path / "data"),
            "MAILROOM_SMTP_PORT": str(free_port()),
            "MAILROOM_METRICS_ADDRESS": address,
        }
        code, _, err = await run_mailroom("smtp", env=env)
    assert code == 2
    assert err.startswith(
        f"mailroom: MAILROOM_METRICS_ADDRESS: cannot serve metrics on {address}: "
    )
    assert err.count("\n") == 1
