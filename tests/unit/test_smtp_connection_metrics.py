"""Connections mailroom closes with an answer of its own are counted by code and named
reason (a flood of connections, protocol abuse, a client too slow), never by the reply's
text (it can carry a client's address). Over real sockets to the real listener."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry

from adapters.inbound.smtp_admission import AdmissionLimits
from adapters.inbound.smtp_outcomes import closing
from adapters.inbound.smtp_session import CLOSINGS, SessionRules
from adapters.outbound.metrics import PrometheusMetrics
from tests.support import wait_for
from tests.unit.test_smtp_admission import Client, front_door


def closed(registry: CollectorRegistry, code: str, reason: str) -> float:
    labels = {"code": code, "reason": reason}
    return registry.get_sample_value("mailroom_smtp_connections_closed_total", labels) or 0.0


async def test_a_connection_over_the_limit_and_one_sending_junk_are_counted_by_reason() -> None:
    registry = CollectorRegistry()
    limits = AdmissionLimits(max_connections=1, max_per_client=100, rate_exempt=())
    async with front_door(limits, metrics=PrometheusMetrics(registry)) as door:
        first, greeting = await Client.connect(door.port)
        assert greeting.startswith("220 ")
        _, answer = await Client.connect(door.port)
        assert "too many connections" in answer
        await wait_for(lambda: closed(registry, "421", "busy") == 1, what="the refusal counted")
        await first.say("EHLO client.example")
        first.writer.write(b"RCPT TO:<x>\r\n" * 40)
        for _ in range(21):
            await first.reply()
        assert await first.closed_by_server()
        assert closed(registry, "421", "too_many_errors") == 1
        first.close()


async def test_a_client_talking_before_the_greeting_is_counted() -> None:
    registry = CollectorRegistry()
    rules = SessionRules(greet_pause_seconds=0.5)
    async with front_door(rules=rules, metrics=PrometheusMetrics(registry)) as door:
        reader, writer = await asyncio.open_connection("127.0.0.1", door.port)
        client = Client(reader, writer)
        client.writer.write(b"EHLO early.example\r\n")
        assert (await client.reply()).startswith("554 5.5.1")
        await wait_for(lambda: closed(registry, "554", "early_talker") == 1, what="counted")
        client.close()


def test_every_closing_answer_is_named_with_its_fields_filled_in_or_not() -> None:
    host_filled = "421 4.7.0 mx.example Error: too many connections from 192.0.2.7"
    assert closing(host_filled, CLOSINGS).reason == "busy_client"
    assert closing("421 4.4.2 mx.example Error: timeout exceeded", CLOSINGS).reason == (
        "idle_timeout"
    )
    for template, name in CLOSINGS.items():
        assert closing(template, CLOSINGS).reason == name
        assert closing(template.format(hostname="h", host="1.2.3.4"), CLOSINGS).reason == name
    assert closing("421 4.7.0 something else", CLOSINGS).reason == "other"
