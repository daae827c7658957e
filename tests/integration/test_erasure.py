"""`mailroom erase` on a real stack (dev server, worker, SMTP, the SQLite stores): two
people write in; one is erased; the other's thread still takes mail and shows, and nothing
of the erased person is found in the data directory, the blobs or Temporal."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from adapters.outbound.person_records import SqlitePersonRecords
from tests.integration.test_cli import cli_env
from tests.stack import Stack
from tests.support import run_mailroom, wait_for, with_attachment
from use_cases.models import ThreadStatus
from use_cases.ports import BlobNotFound

SUPPORT = "support@mailroom.local"


def mail_from(
    sender: str, subject: str, attachment: bytes, reply_to: str = "", cc: str = ""
) -> bytes:
    threading = f"In-Reply-To: {reply_to}\r\nReferences: {reply_to}\r\n" if reply_to else ""
    copied = f"Cc: {cc}\r\n" if cc else ""
    head = (
        f"From: {sender}\r\nTo: {SUPPORT}\r\n{copied}Subject: {subject}\r\n{threading}"
        f"Message-ID: <{uuid.uuid4().hex}@example.com>\r\nMIME-Version: 1.0\r\n"
    )
    return with_attachment(head, "my order, the form attached", attachment, "form.pdf")


async def thread_of(stack: Stack, sender: str) -> str:
    async def found() -> str | None:
        for state in await stack.gateway.list(ThreadStatus.OPEN):
            if sender in state.participants and state.acknowledged:
                return state.workflow_id
        return None

    found_id: str = await wait_for(found, what=f"{sender}'s thread, acknowledged")
    return found_id


async def erase(stack: Stack, *args: str) -> str:
    code, out, err = await run_mailroom("erase", *args, env=cli_env(stack))
    assert code == 0, err
    return out


def files_naming(root: Path, needle: bytes) -> list[str]:
    return [
        str(path.relative_to(root))
        for path in root.rglob("*")
        if path.is_file() and needle in path.read_bytes().lower()
    ]


async def gone_from_temporal(dev_server: WorkflowEnvironment, workflow_id: str) -> bool:
    try:
        await dev_server.client.get_workflow_handle(workflow_id).describe()
    except RPCError as exc:
        return exc.status == RPCStatusCode.NOT_FOUND
    return False


async def test_an_erased_person_is_found_nowhere_and_others_threads_go_on(
    stack: Stack, dev_server: WorkflowEnvironment, unique: str
) -> None:
    alice, bob = f"alice-{unique}@example.com", f"bob-{unique}@example.com"
    alices_file, bobs_file = f"alice {unique}".encode() * 40, f"bob {unique}".encode() * 40
    await stack.send(mail_from(alice, "Order of chairs", alices_file), [SUPPORT], alice)
    first_of_bob = mail_from(bob, "Order of desks", bobs_file)
    await stack.send(first_of_bob, [SUPPORT], bob)
    alices_thread, bobs_thread = await thread_of(stack, alice), await thread_of(stack, bob)
    data = stack.wiring.settings.data_dir

    dry = await erase(stack, "--address", alice.upper(), "--dry-run", "--json")

    assert json.loads(dry)["removed"]["thread index: threads removed"] == 1
    assert files_naming(data, alice.encode()), "a dry run changes nothing"
    assert (await stack.gateway.get(alices_thread)).status is ThreadStatus.OPEN
    assert await stack.wiring.blobs.get(stack.blob_address(alices_file)) == alices_file
    report = json.loads(await erase(stack, "--address", f" {alice.upper()} ", "--json"))
    assert report["address"] == alice and report["shared_threads"] == []
    assert report["removed"]["thread index: threads removed"] == 1
    assert report["removed"]["temporal: workflow executions deleted"] >= 1
    assert report["removed"]["blobs: removed"] == 2  # the raw mail and the attachment
    assert report["removed"]["outbox: mails removed"] >= 1  # the acknowledgement, answers
    await wait_for(lambda: gone_from_temporal(dev_server, alices_thread), what="history gone")
    listed = [w async for w in dev_server.client.list_workflows(f"WorkflowId = '{alices_thread}'")]
    assert listed == []
    assert files_naming(data, alice.encode()) == []
    try:
        await stack.wiring.blobs.get(stack.blob_address(alices_file))
        raise AssertionError("alice's attachment is still stored")
    except BlobNotFound:
        pass

    message_id = first_of_bob.split(b"Message-ID: ")[1].split(b"\r\n")[0].decode()
    await stack.send(mail_from(bob, "Re: Order of desks", b"more", message_id), [SUPPORT], bob)
    state = await wait_for(lambda: stack.with_messages(bobs_thread, 2), what="bob's reply")
    assert state.status is ThreadStatus.OPEN
    assert await stack.wiring.blobs.get(stack.blob_address(bobs_file)) == bobs_file
    code, shown, err = await run_mailroom("thread", bobs_thread, env=cli_env(stack))
    assert code == 0 and "Order of desks" in shown, err


async def test_an_address_that_is_not_one_is_refused_in_one_line(stack: Stack) -> None:
    code, _out, err = await run_mailroom("erase", "--address", "nobody", env=cli_env(stack))
    assert code == 2
    assert "not an email address" in err and len(err.strip().splitlines()) == 1


async def test_a_mistyped_data_directory_is_refused_and_left_unmade(
    stack: Stack, tmp_path: Path
) -> None:
    """Not an empty installation made there, keys and all, reporting nothing erased."""
    missing = tmp_path / "no-such-install"
    env = {**cli_env(stack), "MAILROOM_DATA_DIR": str(missing)}
    for command in (["erase", "--address", "alice@example.com", "--dry-run"], ["purge"]):
        code, _out, err = await run_mailroom(*command, env=env)
        assert code == 2 and "is no installation's data directory" in err
        assert len(err.strip().splitlines()) == 1
    assert not missing.exists()


async def test_a_thread_shared_with_others_is_kept_for_them_and_said(
    stack: Stack, unique: str
) -> None:
    alice, carol = f"alice-{unique}@example.com", f"carol-{unique}@example.com"
    first = mail_from(carol, "Team offsite", f"carol {unique}".encode(), cc=alice)
    await stack.send(first, [SUPPORT], carol)
    shared = await thread_of(stack, carol)

    said = await erase(stack, "--address", alice, "--dry-run")
    report = json.loads(await erase(stack, "--address", alice, "--json"))

    assert said.startswith(f"would erase {alice}:\n")
    assert "shared threads kept for the others in them, going on without this person" in said
    assert said.endswith(f"\n    {shared}\n")

    assert report["shared_threads"] == [shared] and report["holding"] == []
    assert report["removed"]["temporal: earlier runs of shared threads deleted"] >= 1
    assert report["removed"]["thread index: threads removed"] == 0
    assert report["removed"]["temporal: workflow executions deleted"] == 0
    assert report["removed"]["thread index: shared threads they were dropped from"] == 1
    assert await SqlitePersonRecords(stack.wiring.settings.data_dir).threads_of(alice) == []
    message_id = first.split(b"Message-ID: ")[1].split(b"\r\n")[0].decode()
    await stack.send(mail_from(carol, "Re: Team offsite", b"agenda", message_id), [SUPPORT], carol)
    await wait_for(lambda: stack.with_messages(shared, 2), what="carol's reply in the thread")
