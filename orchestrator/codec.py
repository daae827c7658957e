"""mailroom's codec server (adapters/inbound/codec_server.py, issue 22): where it serves,
the token a caller shows, the browser origins it answers, and the endpoint the embedded Web
UI is given. Served by `mailroom up` / `mailroom server` beside the embedded server, and
alone by `mailroom codec-server` (for a cluster's own Web UI)."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import structlog

from adapters.inbound.codec_server import CodecAccess, CodecServer
from adapters.outbound.payload_codec import EncryptionCodec
from orchestrator.encryption_keys import key_ring
from orchestrator.key_file import shared_key
from orchestrator.settings import CODEC_TOKEN_FORM, OFF, Settings, parse_host_port
from orchestrator.startup_checks import StartupError, reason

log = structlog.get_logger()

TOKEN_FILE = "codec.token"
STANDALONE_ADDRESS = "127.0.0.1:8234"
WILDCARD_HOSTS = {"0.0.0.0", "::", "[::]"}


def codec_token(settings: Settings) -> str:
    """MAILROOM_CODEC_TOKEN, else one made once in the data directory (mode 0600)."""
    if settings.codec_token is not None:
        return settings.codec_token.get_secret_value()
    path = settings.data_dir / TOKEN_FILE
    token = shared_key(path).decode("ascii", "replace")
    if not CODEC_TOKEN_FORM.fullmatch(token):  # as MAILROOM_CODEC_TOKEN is checked (settings.py)
        raise StartupError(
            f"MAILROOM_DATA_DIR: {path} holds no usable codec token (at least 32 letters, "
            "digits, '.', '_', '~' or '-'): remove it and a new one is made at the next start"
        )
    return token


def ui_origins(settings: Settings) -> frozenset[str]:
    if settings.codec_ui_origins:
        return frozenset(settings.codec_ui_origins)
    port = settings.temporal_ui_port
    return frozenset({f"http://127.0.0.1:{port}", f"http://localhost:{port}"})


def codec_address(settings: Settings, *, embedded: bool) -> tuple[str, int, bool] | None:
    """(host, port, whether that port must be had); None: off. Unset beside the embedded
    server: the UI's port + 1, or any free port when that one is taken (several
    installations or tests on one machine), as the server's metrics port is chosen."""
    value = settings.codec_address
    if value is not None and value.strip().lower() in OFF:
        return None
    if value is None and embedded:
        beside_ui = settings.temporal_ui_port + 1
        return "127.0.0.1", beside_ui if beside_ui <= 65535 else 0, False
    host, port = parse_host_port((value or STANDALONE_ADDRESS).strip())
    return host.strip("[]"), port, True


def browser_endpoint(server: CodecServer, token: str) -> str:
    """What the embedded Web UI is given: the token as the first path segment, because that
    UI cannot send a header of its own (adapters/inbound/codec_server.py)."""
    host = "127.0.0.1" if server.host in WILDCARD_HOSTS else server.host
    return f"http://{host}:{server.port}/{token}"


def serve_codec(settings: Settings, stack: AsyncExitStack, *, embedded: bool) -> CodecServer | None:
    """Bind and serve (until `stack` closes); None when MAILROOM_CODEC_ADDRESS is off."""
    where = codec_address(settings, embedded=embedded)
    if where is None:
        return None
    host, port, required = where
    access = CodecAccess(token=codec_token(settings), ui_origins=ui_origins(settings))
    codec = EncryptionCodec(key_ring(settings))
    loop = asyncio.get_running_loop()
    try:
        server = CodecServer((host, port), codec, access, loop, encoding=settings.codec_encode)
    except OSError as exc:
        if required:
            raise StartupError(
                f"MAILROOM_CODEC_ADDRESS: cannot serve on {host}:{port}: {reason(exc)}"
            ) from None
        server = CodecServer((host, 0), codec, access, loop, encoding=settings.codec_encode)
    server.serve_in_thread()
    stack.callback(server.close)
    log.info("codec_serving", address=f"{host}:{server.port}", origins=sorted(access.ui_origins))
    return server
