"""`mailroom codec-server`: the codec server alone (orchestrator/codec.py), for a Web UI or
`temporal --codec-endpoint` in front of a cluster; `mailroom up` serves one of its own."""

from __future__ import annotations

import argparse
from contextlib import AsyncExitStack
from typing import Any

import structlog

from orchestrator.cli_errors import CliError
from orchestrator.codec import TOKEN_FILE, serve_codec, ui_origins
from orchestrator.runner import run_async
from orchestrator.services import announce, stop_requested
from orchestrator.settings import Settings
from orchestrator.startup_checks import check_data_dir

log = structlog.get_logger()


def add_codec_parser(commands: Any) -> None:
    commands.add_parser(
        "codec-server",
        help="serve Temporal's remote codec protocol (decode/encode) for the Web UI and CLI",
    )


def cmd_codec_server(settings: Settings, args: argparse.Namespace) -> int:
    check_data_dir(settings.data_dir)
    run_async(lambda: serve_until_stopped(settings))
    return 0


async def serve_until_stopped(settings: Settings) -> None:
    stop = stop_requested()
    async with AsyncExitStack() as stack:
        server = serve_codec(settings, stack, embedded=False)
        if server is None:
            raise CliError("MAILROOM_CODEC_ADDRESS is off: there is no codec server to run")
        token_from = (
            "MAILROOM_CODEC_TOKEN"
            if settings.codec_token is not None
            else settings.data_dir / TOKEN_FILE
        )
        announce("codec", f"http://{server.host}:{server.port} (token: {token_from})")
        announce("origins", ", ".join(sorted(ui_origins(settings))))
        await stop.wait()
        log.info("codec_stopping")
