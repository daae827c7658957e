"""The operator's CLI against a real dev server, run as the `mailroom` process would be."""

from __future__ import annotations

import json
import os
import shutil
from email import policy
from email.parser import BytesParser
from pathlib import Path

from tests.conftest import FIXTURES
from tests.stack import Stack
from tests.support import free_port, run_mailroom, wait_for

THREAD_KEYS = {
    "thread_id",
    "workflow_id",
    "mailbox",
    "status",
    "subject",
    "message_ids",
    "participants",
    "flow",
    "stage",
}


def cli_env(stack: Stack) -> dict[str, str]:
    s = stack.wiring.settings
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("MAILROOM_")},
        "MAILROOM_DATA_DIR": str(s.data_dir),
        "MAILROOM_TEMPORAL_ADDRESS": s.temporal_target,
        "MAILROOM_TASK_QUEUE": s.task_queue,
        "MAILROOM_QUEUE_PREFIX": f"{s.task_queue}-",
        "MAILROOM_SMTP_PORT": str(s.smtp_port),
        "MAILROOM_MAILBOXES": ",".join(s.mailboxes),
        # the CLI's hand-offs carry its flow settings: the stack's (acknowledged at once)
        "MAILROOM_ACK_DELAY": str(s.ack_delay.total_seconds()),
    }


async def threads_json(env: dict[str, str], *extra: str) -> list[dict[str, object]]:
    code, out, err = await run_mailroom("threads", "--json", *extra, env=env)
    assert code == 0, err
    return list(json.loads(out))


async def test_replay_a_directory_then_list_show_and_complete_threads(
    stack: Stack, tmp_path: Path
) -> None:
    env = cli_env(stack)
    fixtures = tmp_path / "mail"
    fixtures.mkdir()
    for mail in FIXTURES.glob("*.eml"):  # our own fixtures, not the corpora beside them
        shutil.copy(mail, fixtures / mail.name)
    shutil.copy(FIXTURES / "support_question.eml", fixtures / "zz_again.eml")  # a duplicate
    (fixtures / "zz_foreign.eml").write_bytes(b"To: x@elsewhere.example\r\n\r\nhello")

    code, out, err = await run_mailroom("replay", str(fixtures), env=env)
    assert code == 0, err
    assert "7 accepted, 1 duplicate, 1 rejected" in out
    assert "zz_foreign.eml" in err

    # 7 mails: question+reply share a thread, multi_mailbox opens one in each mailbox → 7 threads
    threads = await wait_for(lambda: _when_count(threads_json(env), 7), what="7 threads")
    assert all(set(t) >= THREAD_KEYS for t in threads)
    question = next(t for t in threads if t["subject"] == "Printer on fire")
    assert question["message_ids"] == ["<question-1@example.com>", "<question-2@example.com>"]
    assert question["status"] == "open" and question["flow"] == "support"

    code, out, _ = await run_mailroom("thread", str(question["thread_id"]), "--json", env=env)
    assert code == 0 and json.loads(out)["thread_id"] == question["thread_id"]

    code, _, err = await run_mailroom("complete", str(question["thread_id"]), env=env)
    assert code == 0, err
    completed = await wait_for(
        lambda: _when_count(threads_json(env, "--status", "completed"), 1),
        what="the completed thread",
    )
    assert completed[0]["thread_id"] == question["thread_id"]
    assert len(await threads_json(env, "--status", "open")) == 6
    again = f"#{question['reference']} is already completed (completed by operator)"
    code, _, err = await run_mailroom("complete", str(question["reference"]), env=env)
    assert code == 2 and again in err
    code, _, err = await run_mailroom("reply", str(question["reference"]), "--body", "Hi", env=env)
    assert code == 2 and again in err and "a reply to a completed thread is not sent" in err

    code, out, _ = await run_mailroom("outbox", "--json", env=env)
    outbox = [e for e in json.loads(out) if e["message_id"].startswith("<ack-")]
    assert code == 0 and len(outbox) == 6  # one receipt per thread; the auto-reply gets none
    assert set(outbox[0]) >= {
        "message_id",
        "to",
        "subject",
        "in_reply_to",
        "references",
        "reply_to",
        "sent_at",
    }


async def _when_count(listing: object, count: int) -> list[dict[str, object]] | None:
    threads = await listing  # type: ignore[misc]
    return threads if len(threads) == count else None


async def test_send_delivers_files_over_smtp_to_the_adapter(
    stack: Stack, tmp_path: Path, unique: str
) -> None:
    env = cli_env(stack)
    rfq = tmp_path / "rfq.eml"  # its own Message-ID: workflow ids are shared by the server
    rfq.write_bytes((FIXTURES / "rfq.eml").read_bytes().replace(b"<rfq-", f"<{unique}-".encode()))
    code, out, err = await run_mailroom("send", str(rfq), env=env)
    assert code == 0, err
    assert "accepted for procurement@mailroom.local" in out
    threads = await wait_for(lambda: _when_count(threads_json(env), 1), what="the RFQ thread")
    assert threads[0]["mailbox"] == "procurement@mailroom.local"
    assert threads[0]["participants"] == ["bob@corp.example", "carol@corp.example"]


async def test_send_reports_a_refused_recipient_with_exit_code_2(stack: Stack) -> None:
    code, _, err = await run_mailroom(
        "send", str(FIXTURES / "rfq.eml"), "--to", "x@elsewhere.example", env=cli_env(stack)
    )
    assert code == 2 and "550" in err


async def test_commands_give_a_hint_when_temporal_is_not_running(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MAILROOM_")},
        "MAILROOM_TEMPORAL_PORT": str(free_port()),
        "MAILROOM_DATA_DIR": str(tmp_path),
    }
    for command in (
        ["threads"],
        ["thread", "thread-x"],
        ["complete", "thread-x"],
        ["replay", str(FIXTURES)],
    ):
        code, _, err = await run_mailroom(*command, env=env)
        assert code == 2, command
        assert "start it with `mailroom up`" in err and "Traceback" not in err
        assert len(err.strip().splitlines()) == 1


async def test_an_unknown_thread_is_a_clear_error(stack: Stack) -> None:
    code, _, err = await run_mailroom("thread", "thread-nope", env=cli_env(stack))
    assert code == 2 and "no thread matches 'thread-nope'" in err
    whole_id = "thread-support@mailroom.local-0123456789abcdef"  # used as is, never listed
    code, _, err = await run_mailroom("complete", whole_id, env=cli_env(stack))
    assert code == 2 and f"no thread {whole_id}" in err


async def test_approve_by_cli_creates_the_purchase_order_shown_by_pos(
    stack: Stack, unique: str
) -> None:
    env = cli_env(stack)
    rfq = (FIXTURES / "rfq.eml").read_bytes().replace(b"<rfq-", f"<{unique}-".encode())
    await stack.send(rfq, ["procurement@mailroom.local"], sender="bob@corp.example")
    listed = await wait_for(lambda: _when_count(threads_json(env), 1), what="the RFQ thread")
    thread_id = str(listed[0]["thread_id"])

    reference = f"[#{listed[0]['reference']}]"

    async def waiting() -> dict[str, object] | None:
        code, out, _ = await run_mailroom("thread", reference, "--json", env=env)
        shown = json.loads(out) if code == 0 else {}
        return shown if shown.get("pending_approval") else None

    shown = await wait_for(waiting, what="the approval wait")
    assert shown["thread_id"] == thread_id and shown["requester"] == "bob@corp.example"
    assert shown["flow"] == "procurement" and shown["stage"] == "awaiting_approval"
    assert [c["stage"] for c in shown["history"]][-1] == "awaiting_approval"

    hash_prefix = thread_id.rpartition("-")[2][:8]
    code, out, err = await run_mailroom(
        "approve", hash_prefix, "--reason", "ok", "--by", "alice", env=env
    )
    assert code == 0, err
    assert out.strip() == f"{reference[1:-1]}: approval by alice sent (ok)"
    code, _, err = await run_mailroom("approve", thread_id, env=env)  # nothing to decide now
    assert code == 2 and "not waiting for an approval" in err

    async def ordered() -> list[dict[str, object]] | None:
        code, out, _ = await run_mailroom("pos", "--json", env=env)
        return json.loads(out) if code == 0 and json.loads(out) else None

    orders = await wait_for(ordered, what="the purchase order")
    assert len(orders) == 1 and orders[0]["thread_id"] == thread_id
    assert orders[0]["total"] == 30000
    code, out, _ = await run_mailroom("thread", thread_id, "--json", env=env)
    assert json.loads(out)["facts"]["po_number"] == orders[0]["po_number"]


async def test_reject_by_reference_tells_the_requester_who_rejected_and_why(
    stack: Stack, unique: str
) -> None:
    env = {**cli_env(stack), "MAILROOM_OPERATOR": "Alice Martin"}
    rfq = (FIXTURES / "rfq.eml").read_bytes().replace(b"<rfq-", f"<{unique}-".encode())
    await stack.send(rfq, ["procurement@mailroom.local"], sender="bob@corp.example")
    listed = await wait_for(
        lambda: _when_count(threads_json(env, "--stage", "awaiting_approval"), 1),
        what="the RFQ waiting for approval",
    )
    reference = str(listed[0]["reference"])

    code, out, err = await run_mailroom(
        "reject", f"#{reference.lower()}", "--reason", "over budget", env=env
    )
    assert code == 0, err
    assert out.strip() == f"#{reference}: rejection by Alice Martin sent (over budget)"

    rejection = await wait_for(lambda: _sent_body(stack, "rejected"), what="the rejection mail")
    assert "rejected by Alice Martin. Reason: over budget" in " ".join(rejection.split())
    code, out, _ = await run_mailroom("thread", reference, env=env)
    assert code == 0 and f"[#{reference}]" in out and "bob@corp.example" in out
    assert "over budget" in out  # the stage note


async def test_threads_table_and_a_prefix_too_short_to_name_a_thread(
    stack: Stack, unique: str
) -> None:
    env = cli_env(stack)
    for n in range(2):
        raw = (
            f"From: dora@example.com\r\nTo: support@mailroom.local\r\nSubject: Case {n}\r\n"
            f"Message-ID: <case{n}-{unique}@example.com>\r\n\r\nHelp.\r\n"
        ).encode()
        await stack.send(raw, ["support@mailroom.local"], sender="dora@example.com")
    threads = await wait_for(lambda: _when_count(threads_json(env), 2), what="two threads")

    code, out, err = await run_mailroom("threads", "--search", "CASE 1", env=env)
    assert code == 0 and err.strip() == "1 thread"
    header, line = out.splitlines()
    assert header.split()[0] == "REF" and "dora@example.com" in line and "Case 1" in line
    case_1 = next(t for t in threads if t["subject"] == "Case 1")
    assert line.startswith(f"#{case_1['reference']}")

    for too_short in ("thread-support@", str(case_1["thread_id"]).rpartition("-")[2][:3]):
        code, _, err = await run_mailroom("thread", too_short, env=env)
        assert code == 2 and f"{too_short!r} is too short to name a thread" in err


def _sent_body(stack: Stack, purpose: str) -> str | None:
    outbox = stack.wiring.settings.data_dir / "outbox"
    for path in outbox.glob("*/*.eml"):
        mail = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        if purpose in str(mail["Message-ID"]):
            body = mail.get_body(("plain",))
            return str(body.get_content()) if body is not None else None
    return None


async def test_rejecting_an_unknown_thread_is_a_clear_error(stack: Stack) -> None:
    code, _, err = await run_mailroom("reject", "thread-nope", env=cli_env(stack))
    assert code == 2 and "no thread matches 'thread-nope'" in err


async def test_reprocess_hands_a_kept_raw_message_to_another_mailbox(
    stack: Stack, unique: str
) -> None:
    env = cli_env(stack)
    raw = (
        f"From: frank@example.com\r\nTo: support@mailroom.local\r\nSubject: Lunch on Friday\r\n"
        f"Message-ID: <again-{unique}@example.com>\r\n\r\nSee you there.\r\n"
    ).encode()
    await stack.send(raw, ["support@mailroom.local"], sender="frank@example.com")
    await wait_for(lambda: _when_count(threads_json(env), 1), what="the first thread")

    code, _, err = await run_mailroom(
        "reprocess",
        f"again-{unique}@example.com",
        "--mailbox",
        "procurement@mailroom.local",
        env=env,
    )
    assert code == 0, err
    threads = await wait_for(lambda: _when_count(threads_json(env), 2), what="the second")
    assert sorted(str(t["mailbox"]) for t in threads) == [
        "procurement@mailroom.local",
        "support@mailroom.local",
    ]
    code, _, err = await run_mailroom("reprocess", "<never-seen@example.com>", env=env)
    assert code == 2 and "never-seen" in err


def conversation_mbox(path: Path, conversations: int, replies: int) -> Path:
    """An mbox where each reply names only the message before it (In-Reply-To, no
    References): it threads only if its parent was handed off first."""
    chunks = []
    for c in range(conversations):
        for n in range(replies + 1):
            parent = f"In-Reply-To: <c{c}-m{n - 1}@example.com>\n" if n else ""
            chunks.append(
                f"From alice@example.com Sat Nov 21 10:00:00 2026\n"
                f"From: alice@example.com\nTo: support@mailroom.local\n"
                f"Subject: {'Re: ' if n else ''}Case {c}\nMessage-ID: <c{c}-m{n}@example.com>\n"
                f"{parent}\nMessage {n} of case {c}.\n\n"
            )
    path.write_text("".join(chunks))
    return path


async def test_replay_in_parallel_lanes_keeps_every_conversation_in_order(
    stack: Stack, tmp_path: Path
) -> None:
    env = cli_env(stack)
    mbox = conversation_mbox(tmp_path / "cases.mbox", conversations=12, replies=3)
    code, out, err = await run_mailroom("replay", "--lanes", "6", str(mbox), env=env)
    assert code == 0, err
    assert "48 accepted" in out
    threads = await wait_for(
        lambda: _when_count(threads_json(env), 12), what="12 threads, one per case"
    )
    for thread in threads:
        case = str(thread["subject"]).split()[-1]
        assert thread["message_ids"] == [f"<c{case}-m{n}@example.com>" for n in range(4)]


async def test_replay_refuses_a_lane_count_below_one(stack: Stack, tmp_path: Path) -> None:
    code, _, err = await run_mailroom("replay", "--lanes", "0", str(tmp_path), env=cli_env(stack))
    assert code == 2 and "above zero" in err
