"""Over real SMTP to the real stack: mail refused `552 5.3.4` (too complex for a signal)
leaves nothing in the data directory, and the attachment it shares with an accepted mail
stays readable."""

from __future__ import annotations

import smtplib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from adapters.outbound.blob_store import FileBlobStore
from tests.stack import Stack, running_stack, stack_settings
from tests.unit.test_blob_cleanup import (
    SHARED,
    SUPPORT,
    attachment,
    files_under,
    mail,
    refused_mail,
)

REFUSALS = 5


@pytest.fixture
async def stack(
    dev_server: WorkflowEnvironment, tmp_path: Path, task_queue: str
) -> AsyncIterator[Stack]:
    settings = stack_settings(tmp_path, dev_server.client, task_queue)
    async with running_stack(dev_server.client, settings, worker=False) as running:
        yield running


async def test_refused_mail_leaves_no_bytes_behind(stack: Stack, unique: str) -> None:
    accepted = mail(f"<accepted-{unique}@example.com>", [attachment("shared.pdf", SHARED)])
    assert await stack.send(accepted, [SUPPORT]) == {}
    blobs = stack.wiring.settings.data_dir / "blobs"
    before = files_under(blobs)
    for n in range(REFUSALS):
        with pytest.raises(smtplib.SMTPDataError) as refused:
            await stack.send(refused_mail(f"<refused-{n}-{unique}@example.com>"), [SUPPORT])
        text = refused.value.args[1]  # bytes, whatever typeshed says of smtp_error
        assert (refused.value.smtp_code, text[:5]) == (552, b"5.3.4")
    assert files_under(blobs) == before
    store = stack.wiring.blobs
    assert isinstance(store, FileBlobStore)
    assert store.path_of(store.address_of(SHARED)) in before
    assert await store.get(store.address_of(SHARED)) == SHARED
