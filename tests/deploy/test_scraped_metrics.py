"""Every metric the shipped rules and dashboard reference is in a scrape of a running
`mailroom up` (issue 21: no dashboard that points at nothing)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import pytest

from tests.conftest import FIXTURES
from tests.deploy.shipped import CLIENT_NAMES, PROMETHEUS_METRICS, SDK_NAMES, referenced_names
from tests.integration.test_metrics_endpoint import scrape
from tests.integration.test_up import mailroom_up, stop, up_env
from tests.stack import send_mail
from tests.support import free_port, wait_for
from use_cases.metric_catalogue import BY_NAME, exported_names

pytestmark = pytest.mark.slow

# The catalogue's metrics exported before the branches implementing the rest merge.
EXPORTED_TODAY = frozenset(
    name
    for metric in (
        "mailroom_smtp_mails_received",
        "mailroom_smtp_mails",
        "mailroom_handoff_seconds",
        "mailroom_smtp_held_senders",
    )
    for name in exported_names(BY_NAME[metric])
)
SAMPLE_ENDS = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}


def scraped_names(text: str) -> set[str]:
    """Sample names, and those a `# TYPE` line promises without a sample yet (a counter or
    histogram with labels before its first count)."""
    names = set(re.findall(r"^([A-Za-z_:][\w:]*)", text, re.MULTILINE))
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)", text, re.MULTILINE):
        names.add(name)
        names.update(f"{name.removesuffix('_total')}{end}" for end in SAMPLE_ENDS.get(kind, ()))
    return names


@pytest.fixture(scope="module")
async def scraped(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[set[str]]:
    """The names in a scrape of `mailroom up` once a mail has gone through its thread."""
    tmp_path = tmp_path_factory.mktemp("up")
    metrics = free_port()
    env = up_env(
        tmp_path / "data", MAILROOM_METRICS_ADDRESS=f"127.0.0.1:{metrics}", MAILROOM_ACK_DELAY="0"
    )
    smtp_port = int(env["MAILROOM_SMTP_PORT"])
    question = (FIXTURES / "support_question.eml").read_bytes()
    async with mailroom_up(env) as up:
        await asyncio.to_thread(
            send_mail, smtp_port, question, ["support@mailroom.local"], "alice@example.com"
        )
        names = await wait_for(
            lambda: sdk_names_in(metrics), what="the SDK's metrics of a thread", timeout=60
        )
        assert await stop(up) == 0
    yield names


async def sdk_names_in(port: int) -> set[str] | None:
    names = scraped_names(await asyncio.to_thread(scrape, port))
    return names if names >= SDK_NAMES else None


def test_the_sdk_metrics_and_those_exported_today_are_scraped(scraped: set[str]) -> None:
    wanted = referenced_names() & (SDK_NAMES | EXPORTED_TODAY | CLIENT_NAMES)
    assert wanted & SDK_NAMES and wanted & EXPORTED_TODAY and wanted & CLIENT_NAMES
    assert wanted <= scraped, f"referenced but not scraped: {sorted(wanted - scraped)}"


def test_every_metric_the_rules_and_dashboard_reference_is_scraped(scraped: set[str]) -> None:
    missing = referenced_names() - PROMETHEUS_METRICS - scraped
    assert not missing, f"referenced but not scraped: {sorted(missing)}"
