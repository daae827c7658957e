"""`mailroom reprocess` reads a kept raw mail sealed at rest (issue 22) as the worker does,
and a raw mail changed on disk is one clear error, never garbage handed to a thread."""

from __future__ import annotations

from adapters.outbound.blob_store import FileBlobStore
from tests.integration.test_cli import _when_count, cli_env, threads_json
from tests.stack import Stack
from tests.support import run_mailroom, wait_for


async def test_reprocess_reads_a_sealed_raw_mail_and_refuses_a_changed_one(
    stack: Stack, unique: str
) -> None:
    env = cli_env(stack)
    raw = (
        f"From: frank@example.com\r\nTo: support@mailroom.local\r\nSubject: Lunch on Friday\r\n"
        f"Message-ID: <sealed-{unique}@example.com>\r\n\r\nSee you at the narwhal bar.\r\n"
    ).encode()
    await stack.send(raw, ["support@mailroom.local"], sender="frank@example.com")
    await wait_for(lambda: _when_count(threads_json(env), 1), what="the first thread")
    store = stack.wiring.blobs
    assert isinstance(store, FileBlobStore)
    kept = store.path_of(store.address_of(raw))
    assert b"narwhal" not in kept.read_bytes()

    args = ("reprocess", f"sealed-{unique}@example.com", "--mailbox", "procurement@mailroom.local")
    code, _, err = await run_mailroom(*args, env=env)
    assert code == 0, err
    await wait_for(lambda: _when_count(threads_json(env), 2), what="the reprocessed thread")

    sealed = kept.read_bytes()
    kept.chmod(0o600)
    kept.write_bytes(sealed[:-1] + bytes([sealed[-1] ^ 1]))
    code, _, err = await run_mailroom(*args, env=env)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert kept.name in err and "does not decrypt" in err
