"""The codec server speaks Temporal's remote codec protocol to whoever shows the token, to
browsers from the Web UI's origin only, and says what is wrong with a bad request; where it
serves, and what a taken port does."""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from adapters.inbound.codec_server import MAX_BODY_BYTES, CodecAccess, CodecServer
from adapters.outbound.key_ring import new_key_entry, parse_key_ring
from adapters.outbound.payload_codec import EncryptionCodec
from orchestrator.codec import browser_endpoint, serve_codec
from orchestrator.settings import Settings
from orchestrator.startup_checks import StartupError
from tests.support import free_port, wait_for

TOKEN = "t" * 40
UI = "http://127.0.0.1:8233"
MAIL = Payload(metadata={"encoding": b"json/plain"}, data=b'{"subject": "my salary"}')


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


@pytest.fixture
async def codec() -> EncryptionCodec:
    return EncryptionCodec(parse_key_ring(new_key_entry("k1")))


@pytest.fixture
async def base(codec: EncryptionCodec) -> AsyncIterator[str]:
    access = CodecAccess(token=TOKEN, ui_origins=frozenset({UI}))
    server = CodecServer(("127.0.0.1", 0), codec, access, asyncio.get_running_loop())
    server.serve_in_thread()
    yield f"http://127.0.0.1:{server.port}"
    await asyncio.to_thread(server.close)


def call(url: str, body: bytes | None = None, method: str = "POST", **headers: str) -> Answer:
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return Answer(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as error:
        return Answer(error.code, dict(error.headers), error.read())


async def post(url: str, payloads: list[Payload], **headers: str) -> Answer:
    body = json_format.MessageToJson(Payloads(payloads=payloads)).encode()
    return await asyncio.to_thread(call, url, body, "POST", **headers)


def payloads_of(answer: Answer) -> list[Payload]:
    return list(json_format.Parse(answer.body, Payloads()).payloads)


async def test_sealed_payloads_come_back_decoded_to_a_bearer_of_the_token(
    base: str, codec: EncryptionCodec
) -> None:
    sealed = await codec.encode([MAIL, MAIL])
    answer = await post(f"{base}/decode", sealed, Authorization=f"Bearer {TOKEN}")
    assert answer.status == 200
    assert payloads_of(answer) == [MAIL, MAIL]


async def test_the_token_as_the_first_path_segment_is_the_web_ui_form(
    base: str, codec: EncryptionCodec
) -> None:
    sealed = await codec.encode([MAIL])
    answer = await post(f"{base}/{TOKEN}/decode?preserveStorageRefs=true", sealed, Origin=UI)
    assert answer.status == 200 and payloads_of(answer) == [MAIL]
    assert answer.headers["Access-Control-Allow-Origin"] == UI


async def test_encode_is_refused_unless_turned_on(base: str) -> None:
    """A token holder (the token is in the UI's settings) must not mint sealed payloads
    that workers would take as mailroom's own."""
    answer = await post(f"{base}/encode", [MAIL], Authorization=f"Bearer {TOKEN}")
    assert answer.status == 403 and b"MAILROOM_CODEC_ENCODE" in answer.body


async def test_encode_turned_on_seals_what_the_ui_sends(codec: EncryptionCodec) -> None:
    access = CodecAccess(token=TOKEN, ui_origins=frozenset({UI}))
    loop = asyncio.get_running_loop()
    server = CodecServer(("127.0.0.1", 0), codec, access, loop, encoding=True)
    server.serve_in_thread()
    try:
        url = f"http://127.0.0.1:{server.port}/encode"
        answer = await post(url, [MAIL], Authorization=f"Bearer {TOKEN}")
    finally:
        await asyncio.to_thread(server.close)
    [sealed] = payloads_of(answer)
    assert b"salary" not in sealed.SerializeToString()
    assert await codec.decode([sealed]) == [MAIL]


async def test_without_the_token_nothing_is_decoded(base: str, codec: EncryptionCodec) -> None:
    sealed = await codec.encode([MAIL])
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        answer = await post(f"{base}/decode", sealed, **headers)
        assert answer.status == 401, headers
        assert b"salary" not in answer.body
    assert (await post(f"{base}/default/decode", sealed)).status == 401


async def test_a_preflight_is_answered_for_the_web_ui_origin_only(base: str) -> None:
    preflight = {"Access-Control-Request-Method": "POST"}
    answer = await asyncio.to_thread(
        call, f"{base}/decode", None, "OPTIONS", Origin=UI, **preflight
    )
    assert answer.status == 204
    assert answer.headers["Access-Control-Allow-Origin"] == UI
    assert answer.headers["Access-Control-Allow-Credentials"] == "true"
    allowed = {h.strip() for h in answer.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"content-type", "x-namespace", "authorization"} <= allowed

    other = "http://evil.example"
    refused = await asyncio.to_thread(
        call, f"{base}/decode", None, "OPTIONS", Origin=other, **preflight
    )
    assert refused.status == 403
    assert "Access-Control-Allow-Origin" not in refused.headers


async def test_malformed_requests_are_refused_with_a_reason(
    base: str, codec: EncryptionCodec
) -> None:
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    not_json = await asyncio.to_thread(call, f"{base}/decode", b"{not json", "POST", **bearer)
    assert not_json.status == 400 and b"not a JSON Payloads message" in not_json.body

    [sealed] = await codec.encode([MAIL])
    sealed.data = sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])
    tampered = await post(f"{base}/decode", [sealed], **bearer)
    assert tampered.status == 400 and b"cannot decode" in tampered.body

    [foreign] = await EncryptionCodec(parse_key_ring(new_key_entry("other"))).encode([MAIL])
    unknown = await post(f"{base}/decode", [foreign], **bearer)
    assert unknown.status == 400 and b"'other'" in unknown.body


async def test_a_body_over_the_bound_is_refused_unread(base: str) -> None:
    def announce_a_huge_body() -> int:
        connection = http.client.HTTPConnection(base.removeprefix("http://"), timeout=10)
        connection.putrequest("POST", "/decode")
        connection.putheader("Authorization", f"Bearer {TOKEN}")
        connection.putheader("Content-Length", str(MAX_BODY_BYTES + 1))
        connection.endheaders()  # and never sends it: the answer comes without it
        status = connection.getresponse().status
        connection.close()
        return status

    assert await asyncio.to_thread(announce_a_huge_body) == 413


async def test_other_methods_and_paths_are_refused(base: str) -> None:
    got = await asyncio.to_thread(call, f"{base}/{TOKEN}/decode", None, "GET")
    assert got.status == 405 and got.headers["Allow"] == "POST, OPTIONS"
    put = await asyncio.to_thread(call, f"{base}/decode", b"{}", "PUT")
    assert put.status == 405
    elsewhere = await post(f"{base}/{TOKEN}/download", [MAIL])
    assert elsewhere.status == 404
    assert json.loads(elsewhere.body)["error"]


async def test_a_set_codec_address_that_is_taken_stops_the_start_in_one_line(
    tmp_path: Path,
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = Settings(data_dir=tmp_path, codec_address=f"127.0.0.1:{port}")
        async with AsyncExitStack() as stack:
            with pytest.raises(StartupError, match="MAILROOM_CODEC_ADDRESS: cannot serve on"):
                serve_codec(settings, stack, embedded=True)


async def test_beside_the_embedded_server_a_taken_default_port_gives_way(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        ui_port = taken.getsockname()[1] - 1  # the codec's default, UI port + 1, is taken
        settings = Settings(data_dir=tmp_path, temporal_ui_port=ui_port)
        async with AsyncExitStack() as stack:
            server = serve_codec(settings, stack, embedded=True)
            assert server is not None and server.port != ui_port + 1
            token = (tmp_path / "codec.token").read_text().strip()
            assert browser_endpoint(server, token) == f"http://127.0.0.1:{server.port}/{token}"


@pytest.fixture
async def small_server(codec: EncryptionCodec) -> AsyncIterator[CodecServer]:
    """Two connections at most, each a second at most: a test of the bounds needs no more."""
    access = CodecAccess(token=TOKEN, ui_origins=frozenset({UI}))
    server = CodecServer(
        ("127.0.0.1", 0),
        codec,
        access,
        asyncio.get_running_loop(),
        max_connections=2,
        request_seconds=1.0,
    )
    server.serve_in_thread()
    yield server
    await asyncio.to_thread(server.close)


def closed_by_server(connection: socket.socket, within: float) -> bool:
    """Whether the server closes `connection` (EOF or reset) within `within` seconds."""
    connection.settimeout(within)
    try:
        return connection.recv(1024) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


async def test_connections_past_the_bound_are_turned_away_at_once(
    small_server: CodecServer,
) -> None:
    """Anyone who reaches the port, token or not, could otherwise hold a thread of the
    worker's process per idle connection, without end."""
    address = ("127.0.0.1", small_server.port)
    idle = [socket.create_connection(address) for _ in range(2)]
    try:
        await wait_for(lambda: small_server.connections_open() == 2, what="two connections held")
        with socket.create_connection(address) as third:
            assert await asyncio.to_thread(closed_by_server, third, 0.5)
    finally:
        for connection in idle:
            connection.close()
    await wait_for(lambda: small_server.connections_open() == 0, what="every connection closed")
    answer = await post(f"http://127.0.0.1:{small_server.port}/{TOKEN}/decode", [MAIL])
    assert answer.status == 200


async def test_a_client_trickling_its_request_is_cut_off_at_the_deadline(
    small_server: CodecServer,
) -> None:
    def trickle() -> bool:
        with socket.create_connection(("127.0.0.1", small_server.port)) as slow:
            slow.sendall(b"POST /decode HTTP/1.1\r\n")
            for _ in range(50):  # a header byte every 0.1 s: each read well within its timeout
                try:
                    slow.sendall(b"X")
                except OSError:
                    return True
                if closed_by_server(slow, 0.1):
                    return True
            return False

    assert await asyncio.to_thread(trickle)


async def test_a_request_for_another_host_name_is_refused_on_loopback(base: str) -> None:
    """DNS rebinding: a web page whose name now resolves to 127.0.0.1 calls the codec
    server as its own origin (no CORS asked); its Host header still names that page's host."""

    def decode_as(host: str) -> int:
        connection = http.client.HTTPConnection(base.removeprefix("http://"), timeout=10)
        body = json_format.MessageToJson(Payloads(payloads=[MAIL])).encode()
        headers = {"Host": host, "Content-Type": "application/json"}
        connection.request("POST", f"/{TOKEN}/decode", body, headers)
        status = connection.getresponse().status
        connection.close()
        return status

    port = base.rsplit(":", 1)[1]
    assert await asyncio.to_thread(decode_as, f"rebound.example:{port}") == 403
    assert await asyncio.to_thread(decode_as, "[not-an-address") == 403
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost"):
        assert await asyncio.to_thread(decode_as, host) == 200


async def test_a_weak_token_in_the_token_file_stops_the_start_in_one_line(tmp_path: Path) -> None:
    """As MAILROOM_CODEC_TOKEN is checked: short is guessable, a '/' breaks the UI's path."""
    (tmp_path / "codec.token").write_text("secret/1\n")
    settings = Settings(data_dir=tmp_path, codec_address=f"127.0.0.1:{free_port()}")
    async with AsyncExitStack() as stack:
        with pytest.raises(StartupError, match=r"codec\.token holds no usable codec token"):
            serve_codec(settings, stack, embedded=False)
