"""Property: no byte sequence, random or a mutated real message, raises out of parsing or
ingest, and what reaches the thread always fits Temporal's payload budget."""

from __future__ import annotations

import asyncio
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.inbound.mime import parse_email
from tests.conftest import CORPUS
from tests.fakes import FakeBlobStore, FakeThreadGateway, FakeThreadIndex
from use_cases.claim_check import MAX_PAYLOAD_BYTES, PayloadTooLarge, payload_size
from use_cases.ingest import ingest_email
from use_cases.threading import Threading

SEEDS = sorted(p for p in CORPUS.rglob("*.eml"))[:40]
HEADERY = st.sampled_from(
    [
        b"\r\n",
        b"\n",
        b"\r",
        b"\x00",
        b":",
        b"=?utf-8?b?",
        b"?=",
        b"--",
        b"<",
        b">",
        b"\xff",
        b"Content-Type: multipart/mixed; boundary=x\r\n",
        b"References: <a@b> <a@b>\r\n",
        b"Content-Transfer-Encoding: base64\r\n",
        b"charset=utf-7",
        b"\r\n\r\n",
    ]
)


@st.composite
def mutated_mail(draw: st.DrawFn) -> bytes:
    raw = bytearray(Path(draw(st.sampled_from(SEEDS))).read_bytes()[:20_000])
    for _ in range(draw(st.integers(1, 8))):
        at = draw(st.integers(0, len(raw)))
        if draw(st.booleans()):
            raw[at:at] = draw(HEADERY | st.binary(max_size=40))
        else:
            del raw[at : at + draw(st.integers(1, 200))]
    return bytes(raw)


async def ingest(raw: bytes) -> None:
    gateway = FakeThreadGateway()
    threading = Threading(index=FakeThreadIndex(), secret=b"k")
    try:
        await ingest_email(
            raw,
            mailboxes=["support@mailroom.local"],
            gateway=gateway,
            parse=parse_email,
            envelope_from="",
            blobs=FakeBlobStore(),
            threading=threading,
        )
    except PayloadTooLarge:
        return
    for _, message in gateway.handed_off:
        assert payload_size(message) <= MAX_PAYLOAD_BYTES


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=3_000), mutated_mail()))
def test_no_bytes_raise_out_of_parsing_or_ingest(raw: bytes) -> None:
    email = parse_email(raw)
    assert email.message_id.startswith("<")
    asyncio.run(ingest(raw))
